"""The same service as Ray Serve replicas, past one machine: each replica builds the app
(:func:`~emotion.serve.app.create_app`) once, so it loads the models once, and Ray Serve
autoscales the replicas on their queue depth (ongoing requests per replica).

    serve run emotion.serve.ray_serve:build_app            # on a Ray cluster, or a local Ray
    serve run emotion.serve.ray_serve:build_app max_replicas=8 num_cpus=2

Settings come from each replica's environment (``EMOTION_*``; set them in the RayService's
``runtime_env.env_vars``): the models are the package's own on that node. Ray Serve's HTTP proxy
listens where Ray's ``http_options`` say; anything but 127.0.0.1 needs ``EMOTION_API_KEYS``
(checked here). A WebSocket stream stays on the replica that accepted it (Ray Serve proxies
WebSockets to one replica for their lifetime). ``docs/api.md`` shows a KubeRay RayService.
"""

from __future__ import annotations

from typing import Any


def _app():
    """The replica's app: built on the replica, from its environment."""
    from ..config import Settings
    from .app import create_app

    return create_app(Settings.from_env(server_address="127.0.0.1"))


def build_app(args: dict[str, Any] | None = None):
    """The Ray Serve application (``serve run emotion.serve.ray_serve:build_app [key=value...]``).

    Args:
        args: ``min_replicas`` (default 1), ``max_replicas`` (4), ``target_ongoing_requests``
            (2: a replica with more in flight asks for another), ``num_cpus`` per replica (1),
            ``max_ongoing_requests`` per replica (8; more wait in the proxy's queue), ``host``
            (the proxy's address, checked against the API keys; default 127.0.0.1).

    Raises:
        ValueError: no ``EMOTION_API_KEYS`` and a non-loopback ``host``.
    """
    from ray import serve

    from ..config import Settings
    from .security import check_bind

    args = dict(args or {})
    check_bind(str(args.get("host", "127.0.0.1")), Settings.from_env())
    deployment = serve.deployment(
        serve.ingress(_app)(),
        name="emotion",
        autoscaling_config={
            "min_replicas": int(args.get("min_replicas", 1)),
            "max_replicas": int(args.get("max_replicas", 4)),
            "target_ongoing_requests": float(args.get("target_ongoing_requests", 2)),
        },
        max_ongoing_requests=int(args.get("max_ongoing_requests", 8)),
        ray_actor_options={"num_cpus": float(args.get("num_cpus", 1))},
    )
    return deployment.bind()
