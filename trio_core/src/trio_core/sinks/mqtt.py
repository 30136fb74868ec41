"""MQTT (paho-mqtt): each condition's state, its events and snapshots as topics, and Home Assistant discovery.

``mqtt://user:pass@host:1883/PREFIX?discovery=homeassistant`` (``mqtts://`` for TLS, port
8883 by default; ``?ca=/path/ca.pem`` trusts a private CA, ``&insecure=true`` skips the name
check). ``PREFIX`` defaults to ``trio``. For a watch ``W`` and a condition ``C``:

- ``PREFIX/W/C/state``: ``ON`` while it alerts, ``OFF`` when clear (retained);
- ``PREFIX/W/C/event``: each alert and cleared event as JSON;
- ``PREFIX/W/C/snapshot`` and ``PREFIX/W/snapshot``: the alert's JPEG bytes (retained);
- ``PREFIX/W/availability`` (``online`` while the watch runs) and ``PREFIX/availability``
  (``online`` while trio is connected; the broker publishes ``offline`` as trio's last will).

With discovery on (the default; ``discovery=off`` turns it off, ``discovery=PREFIX`` moves
it) each watch appears in Home Assistant as a device, each condition a ``binary_sensor``,
the last snapshot an ``image`` entity, without any YAML. Every message is sent with QoS 1
and a delivery counts once the broker acknowledged all of its messages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from ..credentials import masked
from ..errors import ConfigError
from .base import AlertSink, Delivery, SinkConnection, SinkError, check_options

if TYPE_CHECKING:
    from ..outbound import Reach

log = logging.getLogger("trio.sinks")
PUBLISH_TIMEOUT_S = 10.0
OPTIONS = ("discovery", "ca", "insecure", "client_id")
_OBJECT_ID = re.compile(r"[^A-Za-z0-9_-]")


class MqttSink(AlertSink):
    name = "mqtt"
    schemes = ("mqtt", "mqtts")
    description = "Publish states, events and snapshots to an MQTT broker, with Home Assistant discovery."

    keeps_reach = True

    def connect(self, url: str, reach: Reach | None = None) -> SinkConnection:
        return MqttConnection(url, reach)

    def check(self, url: str, reach: Reach) -> None:
        label = masked(url)
        parts = urlsplit(url)
        if not parts.hostname:
            raise ConfigError(f"The MQTT sink {label} names no broker: give mqtt://host:1883.")
        try:
            port = parts.port or (8883 if parts.scheme.lower() == "mqtts" else 1883)
        except ValueError:
            raise ConfigError(f"The MQTT sink {label} has a port that is not a number.") from None
        reach.resolve(parts.hostname, port, "MQTT broker")


class MqttConnection(SinkConnection):
    def __init__(self, url: str, reach: Reach | None = None):
        import paho.mqtt.client as mqtt

        self.label = masked(url)
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "mqtts"
        options = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        check_options(options, OPTIONS, f"The MQTT sink {self.label}")
        if not parts.hostname:
            raise ConfigError(f"The MQTT sink {self.label} names no broker: give mqtt://host:1883.")
        try:
            self.address = (parts.hostname, parts.port or (8883 if tls else 1883))
        except ValueError:
            raise ConfigError(f"The MQTT sink {self.label} has a port that is not a number.") from None
        # The socket goes to this address: the broker's name as it is, or (a request named it) the address it
        # resolved to when checked, for every connection and reconnection (no second DNS answer is used).
        self.connect_to = self.address[0]
        if reach is not None:
            self.connect_to = reach.address(*self.address, "MQTT broker")
        self.prefix = parts.path.strip("/") or "trio"
        discovery = options.get("discovery", "homeassistant")
        self.discovery = None if discovery.lower() in ("off", "false", "no", "0", "") else discovery.strip("/")
        self.watches: dict[str, dict] = {}  # announced and not retired: re-announced on every reconnection
        self._lock = threading.Lock()
        self._problem: str | None = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=options.get("client_id") or f"trio-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv311,
        )
        if parts.username is not None:
            self.client.username_pw_set(unquote(parts.username), unquote(parts.password or "") or None)
        self.tls = {"ca": options.get("ca") or None, "insecure": options.get("insecure", "").lower() in
                    ("1", "true", "yes")} if tls else None  # fmt: skip
        if tls:  # the broker's name is what its certificate is checked against, whatever address the socket has
            self.client.tls_set_context(self._tls_context())
        self.client.will_set(f"{self.prefix}/availability", "offline", qos=1, retain=True)
        self.client.on_connect = self._connected
        self.client.on_socket_open = _no_delay
        self.client.on_disconnect = self._disconnected
        self.client.on_connect_fail = self._connect_failed
        self.client.reconnect_delay_set(1, 30)
        self.client.max_inflight_messages_set(4 * self.batch_size)  # a whole batch in flight at once
        self.client.connect_async(self.connect_to, self.address[1], keepalive=30)
        self.client.loop_start()

    @property
    def where(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def problem(self) -> str | None:
        return self._problem

    # paho's network thread ------------------------------------------------------------------

    def _connected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure:
            problem = f"The MQTT broker at {self.where} refused trio: {reason}; check the user name and password."
            if problem != self._problem:
                log.error("%s", problem)
            self._problem = problem
            return
        self._problem = None
        client.publish(f"{self.prefix}/availability", "online", qos=1, retain=True)
        with self._lock:
            watches = list(self.watches.values())
        for watch in watches:
            self._publish_watch(watch)

    def _connect_failed(self, client, userdata) -> None:
        problem = f"Cannot connect to the MQTT broker at {self.where}: {self._why()}"
        if problem != self._problem:
            log.error("%s", problem)
        self._problem = problem

    def _why(self) -> str:
        """What paho does not say when a connection fails: connect (and shake hands) once more to find out."""
        import socket
        import ssl

        try:
            with socket.create_connection((self.connect_to, self.address[1]), timeout=5) as raw:
                if self.tls is None:
                    return "it closed the connection."
                with self._tls_context().wrap_socket(raw, server_hostname=self.address[0]):
                    return "the TLS handshake succeeded on a retry; it may be overloaded."
        except ssl.SSLCertVerificationError as error:
            return (f"its TLS certificate is not trusted ({error.verify_message}): give ?ca=/path/ca.pem for a "
                    "private CA, or add &insecure=true to skip the host name check.")  # fmt: skip
        except ssl.SSLError as error:
            return f"the TLS handshake failed ({error.reason or error}); is it a TLS port (mqtts://, 8883)?"
        except ConnectionRefusedError:
            return "connection refused; is the broker running, on this port?"
        except OSError as error:
            return f"{error.strerror or error}."

    def _tls_context(self):
        from ..outbound import tls_context

        return tls_context(self.address[0], cafile=self.tls["ca"], check_name=not self.tls["insecure"])

    def _disconnected(self, client, userdata, flags, reason, properties) -> None:
        if reason.is_failure and self._problem is None:
            log.warning("Lost the MQTT broker at %s (%s); reconnecting.", self.where, reason)

    # The sink's worker thread ------------------------------------------------------------------

    def announce(self, watch: dict) -> None:
        with self._lock:
            self.watches[watch["id"]] = watch
        if self.client.is_connected():
            self._publish_watch(watch)

    def retire(self, watch: dict) -> None:
        with self._lock:
            self.watches.pop(watch["id"], None)
        if self.client.is_connected():
            self.client.publish(f"{self.prefix}/{watch['id']}/availability", "offline", qos=1, retain=True)

    def _publish_watch(self, watch: dict) -> None:
        """Discovery (retained), the watch online, and its conditions clear: a new watch starts clear."""
        base = f"{self.prefix}/{watch['id']}"
        for topic, payload in self.discovery_messages(watch):
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)
        self.client.publish(f"{base}/availability", "online", qos=1, retain=True)
        for condition in watch["conditions"]:
            self.client.publish(f"{base}/{condition['id']}/state", "OFF", qos=1, retain=True)

    def discovery_messages(self, watch: dict) -> list[tuple[str, dict]]:
        """Home Assistant MQTT discovery: a device per watch, a binary_sensor per condition, an image entity."""
        if self.discovery is None:
            return []
        watch_id = watch["id"]
        node = _OBJECT_ID.sub("_", f"trio_{watch_id}")
        base = f"{self.prefix}/{watch_id}"
        version = _version()
        common = {
            "availability": [{"topic": f"{self.prefix}/availability"}, {"topic": f"{base}/availability"}],
            "availability_mode": "all",
            "device": {"identifiers": [node], "name": f"trio {watch_id}", "manufacturer": "trio",
                       "model": "watch", "sw_version": version},
            "origin": {"name": "trio", "sw_version": version},
        }  # fmt: skip
        messages = []
        for condition in watch["conditions"]:
            object_id = _OBJECT_ID.sub("_", condition["id"])
            topic = f"{base}/{condition['id']}"
            messages.append((
                f"{self.discovery}/binary_sensor/{node}/{object_id}/config",
                {"name": condition["question"], "unique_id": f"{node}_{object_id}", "state_topic": f"{topic}/state",
                 "payload_on": "ON", "payload_off": "OFF", "json_attributes_topic": f"{topic}/event", **common},
            ))  # fmt: skip
        messages.append((
            f"{self.discovery}/image/{node}/snapshot/config",
            {"name": "Last alert", "unique_id": f"{node}_snapshot", "image_topic": f"{base}/snapshot",
             "content_type": "image/jpeg", **common},
        ))  # fmt: skip
        return messages

    # A storm's backlog goes out pipelined: the broker's acknowledgements are awaited once per batch, not per alert
    # (a broker with Nagle's algorithm on, as Mosquitto by default, delays each by ~40 ms).
    batch_size = 100

    def deliver(self, delivery: Delivery) -> None:
        self.deliver_batch([delivery])

    def deliver_batch(self, deliveries: list[Delivery]) -> None:
        if not self.client.is_connected():
            raise SinkError(self._problem or f"Not connected to the MQTT broker at {self.where}.")
        messages = []
        for delivery in deliveries:
            event = delivery.event
            base = f"{self.prefix}/{event['watch']}"
            topic = f"{base}/{event['condition']}"
            messages += [
                (f"{topic}/state", "ON" if delivery.kind == "alert" else "OFF", True),
                (f"{topic}/event", json.dumps(event), False),
            ]
            if delivery.snapshot is not None:
                messages += [
                    (f"{topic}/snapshot", delivery.snapshot, True),
                    (f"{base}/snapshot", delivery.snapshot, True),
                ]
        sent = [self.client.publish(name, payload, qos=1, retain=retain) for name, payload, retain in messages]
        for info in sent:
            try:
                info.wait_for_publish(PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError) as error:
                raise SinkError(f"The MQTT broker at {self.where} did not take the alert: {error}.") from None
            if not info.is_published():
                raise SinkError(f"The MQTT broker at {self.where} did not acknowledge the alert in time.")

    def close(self) -> None:
        if self.client.is_connected():
            self.client.publish(f"{self.prefix}/availability", "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()


def _no_delay(client, userdata, sock) -> None:
    """Small messages go out at once: with Nagle's algorithm each acknowledged publish waits ~40 ms for the last."""
    import socket

    with contextlib.suppress(OSError, AttributeError):  # a websocket or TLS wrapper may not take it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("trio-core")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
