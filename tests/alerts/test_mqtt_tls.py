"""The MQTT sink over TLS (mqtts://) against a real Mosquitto with a certificate from a test CA made here."""

import datetime
import ipaddress
import json

from tests.alerts.conftest import ORANGE, STORM
from tests.watch.test_standing import wait_for
from trio_core.testing.loopback import Mosquitto, Subscriber
from trio_core.watch.alerts import Alerts
from trio_core.watch.event_store import EventStore


def test_ca(folder):
    """A CA, and a certificate it signed for 127.0.0.1 (PEM files: ca.pem, server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, issuer, public_key, signing_key, *, ca: bool, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "trio test CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name,
                         server_key.public_key(), ca_key, ca=False,
                         san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])  # fmt: skip
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(server_key.private_bytes(
        pem, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))  # fmt: skip
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


test_ca.__test__ = False  # a helper, not a test


def test_mqtts_with_the_test_ca_delivers_and_without_it_is_one_clear_problem(engine, storm, tmp_path):
    ca, certificate, key = test_ca(tmp_path)
    broker = Mosquitto(tmp_path / "broker", users={"trio": "right"}, tls=(certificate, key)).start()
    live = Subscriber(broker.port, "trio/+/+/event", username="trio", password="right")  # the plain listener
    try:
        trusted = f"mqtts://trio:right@127.0.0.1:{broker.tls_port}?ca={ca}"
        untrusted = f"mqtts://trio:right@127.0.0.1:{broker.tls_port}"  # the system's CAs: not ours
        alerts = Alerts(EventStore(tmp_path / "events"))
        watch = engine.watch(storm, [ORANGE], name="tls", alerts=alerts, sinks=[trusted, untrusted], **STORM)
        alerting = sum(event.type == "alert" for event in watch)
        wait_for(lambda: len(live.on("trio/tls/is-there-an-orange-square/event")) >= 2 * alerting, timeout=30)
        arrived = [json.loads(p) for p in live.on("trio/tls/is-there-an-orange-square/event")]
        assert len({(event["type"], event["event_id"]) for event in arrived}) == 2 * alerting  # alerts and clears
        sinks = {sink["sink"]: sink for sink in watch.describe()["sinks"]}
        bad = sinks[f"mqtts://***@127.0.0.1:{broker.tls_port}"]
        assert bad["delivered"] == 0 and "right" not in bad["problem"]
        assert bad["problem"].startswith(
            f"Cannot connect to the MQTT broker at 127.0.0.1:{broker.tls_port}: its TLS "
            "certificate is not trusted (unable to get local issuer certificate)"
        )
        alerts.close()
    finally:
        live.close()
        broker.stop()
