"""A real Prometheus scraping the agent every second (alerting rules optional), with its TSDB in
a temporary directory: the metrics and dashboard tests' reader (fixture ``prometheus``)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from typing import List, Optional

from httpbackends import free_port


class PrometheusServer:
    """Prometheus scraping ``target`` every second; with ``rule_file``, also evaluating its rules
    every second."""

    def __init__(self, workdir, target: str, rule_file: Optional[str] = None):
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            + (f"rule_files:\n  - {rule_file}\n" if rule_file else "")
            + f"scrape_configs:\n  - job_name: maglev-agent\n    static_configs:\n      - targets: ['{target}']\n"
        )
        self.log = open(workdir / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str):
        """The ``data`` of an API answer; None until the server listens and is ready; a query Prometheus
        rejects (bad PromQL) fails the test with Prometheus's reason."""
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.proc.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params),
                                        timeout=5) as answer:
                reply = json.loads(answer.read().decode())
        except urllib.error.HTTPError as error:
            if error.code == 503:
                return None  # still starting (its TSDB and rules load after it listens)
            raise AssertionError(f"prometheus rejected {params}: {error.read().decode()}") from error
        except OSError:
            return None
        assert reply["status"] == "success", reply
        return reply["data"]

    def query(self, expr: str) -> List[dict]:
        """The instant vector of ``expr``: [{"metric": {...}, "value": [t, "v"]}]; [] until it answers."""
        data = self.api("query", query=expr)
        return data["result"] if data else []

    def value(self, expr: str) -> Optional[float]:
        result = self.query(expr)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def rule_groups(self) -> List[dict]:
        data = self.api("rules")
        return data["groups"] if data else []

    def active_alerts(self) -> List[dict]:
        data = self.api("alerts")
        return data["alerts"] if data else []

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
