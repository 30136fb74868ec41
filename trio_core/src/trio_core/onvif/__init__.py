"""trio-core[onvif]: the conversation with ONVIF cameras through WSDiscovery and onvif-zeep-async.

Installed by the ``onvif`` extra and imported only by name, from :mod:`trio_core.cameras`,
which is the API (``discover``, ``stream_uri``, ``resolve``); nothing else should import
this package. ``probe_host``/``probe_network`` send WS-Discovery probes;
``device_details``/``stream_uri`` ask one camera over SOAP and turn what the libraries raise
into trio's one-sentence errors; ``read_service_descriptions`` parses the WSDL files first.
"""

from trio_core.onvif.device import device_details, read_service_descriptions, stream_uri
from trio_core.onvif.discovery import Match, probe_host, probe_network

__all__ = ["Match", "device_details", "probe_host", "probe_network", "read_service_descriptions", "stream_uri"]
