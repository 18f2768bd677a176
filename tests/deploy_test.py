"""Validates the files in deploy/ with the packaged validators that exist.

promtool (Debian's prometheus) checks the Prometheus config;
systemd-analyze verifies the unit (pointed at an installed tree); the
Grafana dashboard, its provisioning, the compose file and the Kubernetes
manifests are parsed and checked for what the service needs. What no
packaged tool can check (building the image, running compose or
Kubernetes) is listed in deploy/README.md.
"""
import json
import os
import re
import subprocess
import tempfile
import unittest

import yaml

ROOT = os.environ["SOURCE_DIR"]
CLI = os.environ["NEWSDEDUP_CLI"]
BUILD = os.environ["BUILD_DIR"]
DEPLOY = os.path.join(ROOT, "deploy")


def read(*parts):
    with open(os.path.join(DEPLOY, *parts), encoding="utf-8") as f:
        return f.read()


def exported_metric_names():
    """Metric names the server declares (services/server/prometheus_metrics.cc)."""
    with open(os.path.join(ROOT, "services", "server", "prometheus_metrics.cc"),
              encoding="utf-8") as f:
        return set(re.findall(r'"(newsdedup_[a-z_]+)"', f.read()))


def exported_label_names():
    """Label names the server declares (services/server/prometheus_metrics.cc)."""
    with open(os.path.join(ROOT, "services", "server", "prometheus_metrics.cc"),
              encoding="utf-8") as f:
        text = f.read()
    names = set()
    for group in re.findall(r"\{(\"[a-z_]+\"(?:, *\"[a-z_]+\")*)\}", text):
        names.update(re.findall(r'"([a-z_]+)"', group))
    return names


class DeployTest(unittest.TestCase):
    def test_prometheus_config_passes_promtool(self):
        result = subprocess.run(
            ["promtool", "check", "config",
             os.path.join(DEPLOY, "prometheus", "prometheus.yml")],
            capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        config = yaml.safe_load(read("prometheus", "prometheus.yml"))
        targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
        self.assertEqual(targets, ["newsdedup:8080"])

    def test_alert_rules_pass_their_unit_tests(self):
        # Issue 37: shipped alerting rules, each tested to fire (and not
        # before) on the series it watches, on metrics the server exports.
        result = subprocess.run(
            ["promtool", "test", "rules",
             os.path.join(DEPLOY, "prometheus", "alerts_test.yml")],
            capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        rules = yaml.safe_load(read("prometheus", "alerts.yml"))
        alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
        self.assertEqual(alerts, {
            "NewsdedupNotServing", "NewsdedupDiskLow",
            "NewsdedupReplicaLagging", "NewsdedupIngestStalled",
            "NewsdedupErrorRate"})
        exported = exported_metric_names()
        for group in rules["groups"]:
            for rule in group["rules"]:
                for name in re.findall(r"newsdedup_[a-z_]+", rule["expr"]):
                    self.assertIn(name, exported, rule["alert"])

    def test_installed_tree_runs_and_the_unit_verifies(self):
        # Issue 37: `cmake --install` lays the tool out as the FHS says, the
        # installed binary finds its shim and models there, and the unit,
        # pointed at that prefix (it names the default, /usr/local), passes
        # systemd-analyze verify.
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix],
                           check=True, capture_output=True)
            installed = set()
            for top, _, files in os.walk(prefix):
                installed |= {os.path.relpath(os.path.join(top, f), prefix)
                              for f in files}
            self.assertEqual(installed, {
                "bin/newsdedup",
                "lib/newsdedup/libnewsdedup_spm_shim.so",
                "share/newsdedup/newsdedup_spm.model",
                "share/newsdedup/story_scorer.txt"})
            binary = os.path.join(prefix, "bin", "newsdedup")
            server = subprocess.Popen(
                [binary, "serve", "--in-memory", "--listen", "127.0.0.1:0",
                 "--http-listen", ""],
                stderr=subprocess.PIPE, text=True)
            try:
                line = ""
                for line in server.stderr:
                    if "event=serving" in line:
                        break
                self.assertIn(
                    f"model={prefix}/share/newsdedup/newsdedup_spm.model",
                    line)
                with open(f"/proc/{server.pid}/maps") as maps:
                    self.assertIn(
                        f"{prefix}/lib/newsdedup/libnewsdedup_spm_shim.so",
                        maps.read())
            finally:
                server.terminate()
                server.wait(timeout=30)
                server.stderr.close()

            unit = read("newsdedup.service")
            self.assertIn("ExecStart=/usr/local/bin/newsdedup serve", unit)
            path = os.path.join(prefix, "newsdedup.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/local/bin/newsdedup", binary))
            result = subprocess.run(["systemd-analyze", "verify", path],
                                    capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stderr.strip(), "")
        self.assertIn("--data-dir /var/lib/newsdedup/data", unit)

    def test_grafana_dashboard_uses_only_exported_metrics(self):
        dashboard = json.loads(read("grafana", "dashboards", "newsdedup.json"))
        self.assertEqual(dashboard["uid"], "newsdedup")
        self.assertIsInstance(dashboard["schemaVersion"], int)
        exported = exported_metric_names()
        self.assertTrue(exported)
        # "instance" is the label Prometheus gives each scraped target.
        labels = exported_label_names() | {"instance"}
        # Issue 37: a data source and an instance picker; every query
        # follows both, and replication lag has a panel.
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        self.assertIn("label_values(", variables["instance"]["definition"])
        self.assertTrue(any("newsdedup_replication_log_sequence" in t["expr"]
                            for p in dashboard["panels"]
                            for t in p["targets"]))
        ids = set()
        for panel in dashboard["panels"]:
            self.assertNotIn(panel["id"], ids)
            ids.add(panel["id"])
            self.assertTrue(panel["title"])
            self.assertEqual(panel["datasource"]["uid"], "${datasource}")
            for key in ("h", "w", "x", "y"):
                self.assertIsInstance(panel["gridPos"][key], int)
            self.assertTrue(panel["targets"])
            for target in panel["targets"]:
                for name, selector in re.findall(
                        r"(newsdedup_[a-z_]+)(\{[^}]*\})?", target["expr"]):
                    base = re.sub(r"_(bucket|sum|count)$", "", name)
                    self.assertIn(base, exported, target["expr"])
                    self.assertIn('instance=~"$instance"', selector,
                                  target["expr"])
                # A legend names labels the server declares and the query
                # keeps (a renamed label otherwise shows as "{{code}}").
                groups = re.findall(r"by \(([^)]*)\)", target["expr"])
                kept = {l.strip() for g in groups for l in g.split(",")}
                for label in re.findall(r"\{\{(\w+)\}\}",
                                        target.get("legendFormat", "")):
                    self.assertIn(label, labels, target["expr"])
                    if groups:
                        self.assertIn(label, kept, target["expr"])
        provisioning = yaml.safe_load(
            read("grafana", "provisioning", "datasources", "prometheus.yaml"))
        self.assertEqual(provisioning["datasources"][0]["uid"], "prometheus")
        providers = yaml.safe_load(
            read("grafana", "provisioning", "dashboards", "newsdedup.yaml"))
        self.assertEqual(providers["providers"][0]["options"]["path"],
                         "/var/lib/grafana/dashboards")

    def test_compose_runs_service_prometheus_and_grafana_on_loopback(self):
        compose = yaml.safe_load(read("compose.yaml"))
        services = compose["services"]
        self.assertEqual(set(services), {"newsdedup", "prometheus", "grafana"})
        for name, service in services.items():
            for port in service.get("ports", []):
                self.assertTrue(port.startswith("127.0.0.1:"), (name, port))
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("./"):
                    self.assertTrue(
                        os.path.exists(os.path.join(DEPLOY, source)), source)
        self.assertEqual(services["newsdedup"]["build"]["dockerfile"],
                         "deploy/Dockerfile")

    def test_images_are_tagged_with_the_release(self):
        # Issue 37: ":latest" names whatever was built last; every
        # deployment names the version CMakeLists.txt declares.
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(newsdedup VERSION (\S+)",
                                f.read()).group(1)
        for name in ["compose.yaml", "compose-replicated.yaml",
                     os.path.join("k8s", "statefulset.yaml"),
                     os.path.join("k8s-replicated", "newsdedup.yaml")]:
            images = re.findall(r"image:\s*(newsdedup\S*)", read(name))
            self.assertTrue(images, name)
            for image in images:
                self.assertEqual(image, f"newsdedup:{version}", name)

    def test_dockerfile_is_multistage_bookworm_nonroot_with_healthcheck(self):
        dockerfile = read("Dockerfile")
        stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
        self.assertEqual(len(stages), 2)
        self.assertTrue(all("bookworm" in s for s in stages), stages)
        self.assertRegex(dockerfile, r"(?m)^USER newsdedup$")
        self.assertRegex(dockerfile, r"(?m)^HEALTHCHECK ")
        self.assertIn("--data-dir", dockerfile)

    def test_tokens_come_from_secrets_never_the_image(self):
        """The image listens beyond loopback, so it needs --auth-tokens; the
        file is mounted at run time by every deployment, never copied in."""
        dockerfile = read("Dockerfile")
        path = "/run/secrets/newsdedup-tokens"
        self.assertIn('"--auth-tokens", "%s"' % path, dockerfile)
        self.assertNotRegex(dockerfile, r"(?m)^(COPY|ADD) .*token")
        for name in ("compose.yaml", "compose-replicated.yaml"):
            compose = yaml.safe_load(read(name))
            self.assertEqual(compose["secrets"]["newsdedup-tokens"]["file"],
                             "./secrets/tokens", name)
            for service, spec in compose["services"].items():
                if service.startswith("newsdedup"):
                    self.assertIn("newsdedup-tokens", spec["secrets"], name)
        with open(os.path.join(DEPLOY, ".gitignore")) as f:
            self.assertIn("secrets/", f.read().split())
        for directory in ("k8s", "k8s-replicated"):
            for name in sorted(os.listdir(os.path.join(DEPLOY, directory))):
                for doc in yaml.safe_load_all(read(directory, name)):
                    if not doc or doc["kind"] not in ("StatefulSet",
                                                      "Deployment"):
                        continue
                    pod = doc["spec"]["template"]["spec"]
                    if "newsdedup" not in pod["containers"][0]["image"]:
                        continue
                    secrets = {v["name"]: v["secret"]["secretName"]
                               for v in pod.get("volumes", [])
                               if "secret" in v}
                    mounts = {m["name"]: m["mountPath"]
                              for m in pod["containers"][0]["volumeMounts"]}
                    self.assertEqual(secrets.get("tokens"), "newsdedup-tokens",
                                     name)
                    self.assertEqual(mounts.get("tokens"), path, name)
        unit = read("newsdedup.service")
        self.assertIn("LoadCredential=tokens:", unit)
        self.assertIn("--auth-tokens ${CREDENTIALS_DIRECTORY}/tokens", unit)

    def test_kubernetes_manifests(self):
        docs = []
        for name in sorted(os.listdir(os.path.join(DEPLOY, "k8s"))):
            docs += [d for d in yaml.safe_load_all(read("k8s", name)) if d]
        kinds = {d["kind"]: d for d in docs}
        self.assertEqual(set(kinds), {"StatefulSet", "Service"})
        services = {d["metadata"]["name"]: d for d in docs
                    if d["kind"] == "Service"}
        spec = kinds["StatefulSet"]["spec"]
        # The governing Service of a StatefulSet must be headless.
        self.assertIn(spec["serviceName"], services)
        self.assertEqual(services[spec["serviceName"]]["spec"]["clusterIP"],
                         "None")
        pod = spec["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        container = pod["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(container[probe]["grpc"]["port"], 50051, probe)
        self.assertIn("limits", container["resources"])
        self.assertIn("requests", container["resources"])
        claims = [c["metadata"]["name"] for c in spec["volumeClaimTemplates"]]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        self.assertEqual(claims, ["data"])
        self.assertEqual(mounts["data"], "/var/lib/newsdedup")
        labels = spec["template"]["metadata"]["labels"]
        for service in services.values():
            self.assertEqual(service["spec"]["selector"], labels)

    def test_replicated_compose_runs_three_nats_and_three_replicas(self):
        compose = yaml.safe_load(read("compose-replicated.yaml"))
        services = compose["services"]
        nats = sorted(n for n in services if n.startswith("nats"))
        replicas = sorted(n for n in services if n.startswith("newsdedup"))
        self.assertEqual(len(nats), 3)
        self.assertEqual(len(replicas), 3)
        for name in nats:
            command = services[name]["command"]
            self.assertIn("-js", command)
            self.assertEqual(command[command.index("-c") + 1],
                             "/etc/nats/authorization.conf")
            self.assertIn("./nats/authorization.conf:"
                          "/etc/nats/authorization.conf:ro",
                          services[name]["volumes"])
            routes = command[command.index("--routes") + 1].split(",")
            # Each node routes to the two others.
            self.assertEqual({r.split("//")[1].split(":")[0] for r in routes},
                             set(nats) - {name})
        for name in replicas:
            command = services[name]["command"]
            urls = command[command.index("--replication-url") + 1]
            self.assertEqual({u.split("@")[-1].split(":")[0]
                              for u in urls.split(",")}, set(nats))
            # As the user that alone may publish on the stream.
            for url in urls.split(","):
                self.assertTrue(url.startswith("nats://newsdedup:"), url)
            for port in services[name].get("ports", []):
                self.assertTrue(port.startswith("127.0.0.1:"), (name, port))

    def test_replicated_kubernetes_manifests(self):
        docs = []
        directory = os.path.join(DEPLOY, "k8s-replicated")
        for name in sorted(os.listdir(directory)):
            docs += [d for d in yaml.safe_load_all(read("k8s-replicated", name))
                     if d]
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], []).append(d)
        nats = by_kind["StatefulSet"][0]
        self.assertEqual(nats["spec"]["replicas"], 3)
        governing = [s for s in by_kind["Service"]
                     if s["metadata"]["name"] == nats["spec"]["serviceName"]]
        self.assertEqual(governing[0]["spec"]["clusterIP"], "None")
        args = nats["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertIn("-js", args)
        routes = args[args.index("--routes") + 1].split(",")
        self.assertEqual(len(routes), 3)
        deployment = by_kind["Deployment"][0]
        self.assertEqual(deployment["spec"]["replicas"], 3)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        urls = container["args"][container["args"].index(
            "--replication-url") + 1].split(",")
        self.assertEqual(len(urls), 3)
        # As the NATS user that alone may publish on the stream, whose
        # permissions the NATS servers load.
        for url in urls:
            self.assertTrue(url.startswith("nats://newsdedup:$(NATS_PASSWORD)@"),
                            url)
        self.assertEqual(args[args.index("-c") + 1],
                         "/etc/nats/authorization.conf")
        # The root file system is read-only: the store and checkpoints
        # need a writable volume at the image's data directory.
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"] for v in
                   deployment["spec"]["template"]["spec"]["volumes"]}
        self.assertEqual(mounts.get("data"), "/var/lib/newsdedup")
        self.assertIn("data", volumes)
        # Ready (traffic) only when caught up; alive while catching up.
        self.assertEqual(container["readinessProbe"]["grpc"]["port"], 50051)
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"],
                         "/healthz")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        front = [s for s in by_kind["Service"]
                 if s["metadata"]["name"] == "newsdedup"]
        self.assertEqual(front[0]["spec"]["selector"], labels)

    def test_dockerignore_keeps_build_trees_out_of_the_image(self):
        # COPY . . of a checkout built per the README brought a
        # CMakeCache.txt from another path, and cmake in the image failed.
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            patterns = [l.strip() for l in f if l.strip()
                        and not l.startswith("#")]
        self.assertIn("build*/", patterns)


if __name__ == "__main__":
    unittest.main()
