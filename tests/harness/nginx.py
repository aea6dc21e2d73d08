"""The compose stack's proxy as a process here: Debian's nginx running the very file that
docker-compose.yml mounts as its configuration, with only the two addresses a container network
gives it replaced: its upstream `web:8000` and its `listen 8080`."""

from __future__ import annotations

from pathlib import Path

import yaml

from .servers import ChildServer, find_binary

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = "server web:8000;"
LISTEN = "listen 8080;"


def mounted_config() -> Path:
    """The file docker-compose.yml's `proxy` service mounts as /etc/nginx/nginx.conf."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for volume in compose["services"]["proxy"]["volumes"]:
        source, target = volume.split(":")[:2]
        if target == "/etc/nginx/nginx.conf":
            return ROOT / source
    raise AssertionError("the proxy service mounts no /etc/nginx/nginx.conf")


class Nginx(ChildServer):
    """nginx in front of a receiver on `upstream_port`, on `port` (default: a free one); its
    files in `workdir`."""

    def __init__(self, workdir: Path, upstream_port: int, port: int | None = None) -> None:
        super().__init__(find_binary("nginx", "/usr/sbin/nginx"))
        self.workdir = workdir
        self.upstream_port = upstream_port
        self.port = port or self.port

    def start(self) -> None:
        text = mounted_config().read_text()
        # The file must keep the lines the container network depends on, once each.
        assert text.count(UPSTREAM) == 1 and text.count(LISTEN) == 1, "proxy config changed"
        text = text.replace(UPSTREAM, f"server 127.0.0.1:{self.upstream_port};")
        text = text.replace(LISTEN, f"listen 127.0.0.1:{self.port};")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "nginx.conf"
        config.write_text(text)
        log = self.workdir / "error.log"
        main = f"daemon off; pid {self.workdir / 'nginx.pid'};"
        with open(log, "ab") as output:
            self.launch("-e", str(log), "-c", str(config), "-g", main, stdout=output, stderr=output)
