"""``PUT .../config`` with hostile documents, and writes that change nothing.

Uploads are parsed off the event loop with size and depth limits; a write that leaves the desired state as it
was answers 200 with the current generation and queues nothing.
"""

from __future__ import annotations

import threading
import time

import yaml

from controlplane.api.app import create_app
from tests.support.http_api import serving
from tests.support.live import APP, Live


def put_config(live: Live, content: bytes | str) -> object:
    return live.client.put("/v1/namespaces/shop/config", content=content, headers=live.headers)


def test_deep_nesting_is_refused_not_a_500(live: Live) -> None:
    live.create()
    for document in (b"[" * 5000 + b"]" * 5000, b"a: " + b"{b: " * 3000 + b"1" + b"}" * 3000):
        response = live.client.put("/v1/namespaces/shop/config", content=document, headers=live.headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "malformed_config"
        assert "deep" in response.json()["error"]["message"]


def test_aliases_that_expand_are_refused(live: Live) -> None:
    live.create()
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    response = live.client.put("/v1/namespaces/shop/config", content=bomb, headers=live.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_config"


def test_an_unchanged_config_is_a_no_op(live: Live) -> None:
    live.create()
    live.empty_queues()
    exported = live.client.get("/v1/namespaces/shop/config", headers=live.headers).text
    response = live.client.put("/v1/namespaces/shop/config", content=exported, headers=live.headers)
    assert response.status_code == 200, response.text
    assert response.json()["generation"] == 1
    assert live.queued() == 0
    assert live.namespace("shop").generation == 1


def test_an_unchanged_app_patch_is_a_no_op(live: Live) -> None:
    live.create()
    live.empty_queues()
    same = {"replicas": APP["replicas"], "image": APP["image"], "env": APP["env"]}
    response = live.client.patch("/v1/namespaces/shop/apps/web", json=same, headers=live.headers)
    assert response.status_code == 200, response.text
    assert response.json()["generation"] == 1
    assert live.queued() == 0
    changed = live.client.patch("/v1/namespaces/shop/apps/web", json={"replicas": 3}, headers=live.headers)
    assert changed.status_code == 202
    assert changed.json()["generation"] == 2
    assert live.queued() == 1


def test_a_changed_env_value_is_a_change(live: Live) -> None:
    live.create()
    document = yaml.safe_load(live.client.get("/v1/namespaces/shop/config", headers=live.headers).text)
    document["apps"][0]["env"]["MODE"] = "production\n"
    response = live.client.put("/v1/namespaces/shop/config", content=yaml.safe_dump(document), headers=live.headers)
    assert response.status_code == 202
    assert response.json()["generation"] == 2


def test_a_slow_upload_never_delays_healthz(live: Live) -> None:
    """Over real uvicorn: a large document is parsed while /healthz answers at once."""
    import httpx

    live.create()
    # Within the body limit and the expansion limit, and slow to parse: many small values (about 2 s here; the
    # pure-Python parser the API used to run on the event loop took several times longer).
    document = b"- 1\n" * 150_000
    assert len(document) < live.runtime.settings.max_body_bytes

    with serving(create_app(live.runtime)) as base:
        upload_done = threading.Event()
        upload_seconds: list[float] = []

        def upload() -> None:
            started = time.perf_counter()
            httpx.put(f"{base}/v1/namespaces/shop/config", content=document, headers=live.headers, timeout=120)
            upload_seconds.append(time.perf_counter() - started)
            upload_done.set()

        threading.Thread(target=upload, daemon=True).start()
        time.sleep(0.05)
        waits = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(10):
                started = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                waits.append(time.perf_counter() - started)
                if upload_done.is_set():
                    break
                time.sleep(0.05)
        assert upload_done.wait(120)
        # The health checks answered while the upload was parsed; none waited for the parse (which is most of the
        # upload's time): each took a small part of it, however fast this machine is.
        assert len(waits) >= 2
        assert max(waits) < upload_seconds[0] / 4, (waits, upload_seconds)
