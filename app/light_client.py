"""A light Streamlit session: the app's own websocket protocol without a browser.

It connects to `/_stcore/stream` the way the browser does and asks for page runs (`rerun_script` with the page's
path and query string), waiting each time for the server's `script_finished`. The server does all of a real
session's work (the script, its queries, serialising every chart and map, sending the frames); only drawing is
left out. The app's warm-up (app.warm) is one of these; the browser benchmark drives 19 beside one measured
Chromium page (issue 18: "driven by light clients, not 19 more browsers"), and the load test 19 beside one tab.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


def rerun_message(path: str) -> bytes:
    """The BackMsg a browser sends to run the page at `path` ("/hotspots?source=gva"), serialised."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    parts = urlsplit(path)
    msg = BackMsg()
    msg.rerun_script.page_name = parts.path.strip("/")
    msg.rerun_script.query_string = parts.query
    return msg.SerializeToString()


def finished(frame: bytes) -> bool | None:
    """True when the frame ends a run successfully, False when the script failed to compile, None otherwise (a run
    that ends early for a rerun the script asked for is followed by that rerun)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg.FromString(frame)
    if msg.WhichOneof("type") != "script_finished" or msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
        return None
    return msg.script_finished != ForwardMsg.FINISHED_WITH_COMPILE_ERROR


def errors(frames: list[bytes]) -> list[str]:
    """What a browser would show in an error box among a run's frames: an exception, or an `st.error` message (the
    browser tests' ERROR_BOXES: stException and stAlertContentError)."""
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    found = []
    for frame in frames:
        if not isinstance(frame, bytes):
            continue
        msg = ForwardMsg.FromString(frame)
        if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
            continue
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            found.append(f"{element.exception.type}: {element.exception.message}"[:200])
        elif kind == "alert" and element.alert.format == Alert.ERROR:
            found.append(element.alert.body[:200])
    return found


class LightSession:
    """One Streamlit session over a websocket. `run(path)` returns (seconds, bytes received) for one page run and
    keeps its frames in `frames`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws = None
        self.frames: list[bytes] = []  # the last run's frames, as received

    async def __aenter__(self) -> LightSession:
        from websockets.asyncio.client import connect

        ws_url = "ws" + self.url.removeprefix("http") + "/_stcore/stream"
        self.ws = await connect(ws_url, origin=self.url, subprotocols=["streamlit"], max_size=None,
                                compression=None, open_timeout=60)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def run(self, path: str, timeout: float = 120.0) -> tuple[float, int]:
        """Run the page at `path` as a browser would; (seconds until the run finished, bytes received)."""
        loop = asyncio.get_running_loop()
        start, received, self.frames = loop.time(), 0, []
        await self.ws.send(rerun_message(path))
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.ws.recv()
                received += len(frame)
                self.frames.append(frame)
                if isinstance(frame, bytes):
                    done = finished(frame)
                    if done is not None:
                        if not done:
                            raise RuntimeError(f"run of {path} did not finish successfully")
                        return loop.time() - start, received
