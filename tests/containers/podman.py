"""podman.py: Podman as a Docker engine for tests/containers/test_compose.py.

- prerequisites(): what is missing for Podman to run here (empty: go).
- Engine: a containers.conf of its own (CONTAINERS_CONF), `podman system
  service` on a socket in a temporary directory for docker-compose, and a
  thread that runs `podman healthcheck run` for the test's containers
  (Podman schedules health checks through systemd timers; without systemd
  nothing runs them, and `depends_on: service_healthy` would wait forever).
- base_image(): debian:bookworm-slim made locally, since no registry is
  reachable: debootstrap --variant=minbase from the host's Debian mirror,
  cached as a tarball under build/containers/, imported as
  localhost/debian:bookworm-slim (which `FROM debian:bookworm-slim` finds
  with --pull=never, and which never shadows a pulled docker.io image).

The recipe and the errors met on the way: docs/containers.md.
"""
import glob
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, "build", "containers")
BASE_TAG = "localhost/debian:bookworm-slim"
# Marks what this test makes, for `make test-containers-clean`.
LABEL = "org.modelserver.test=containers"
SUITE = "bookworm"
# Cached layers older than this are pruned after a run (a rebuild at most
# this often: keeps the cache from growing with every change of the tree).
CACHE_HOURS = 72
TOOLS = ("podman", "runc", "debootstrap", "docker-compose", "iptables",
         "netavark", "aardvark-dns")


def run(args, env=None, timeout=600, **kw):
    kw.setdefault("capture_output", True)
    return subprocess.run(args, env=env, timeout=timeout, text=True, **kw)


def prerequisites():
    """Reasons Podman cannot run this test here; empty when it can."""
    why = []
    if os.getuid() != 0:
        why.append("not root (the recipe is verified as root only)")
    for tool in TOOLS:
        if not (shutil.which(tool) or
                os.path.exists("/usr/lib/podman/" + tool)):
            why.append("%s is not installed" % tool)
    if not mirrors()[0]:
        why.append("no Debian mirror in /etc/apt/sources.list(.d)")
    return why


# ------------------------------------------------------------ the mirror

def _sources():
    """(uri, suites) of every deb source the host's apt reads."""
    out = []
    for path in ["/etc/apt/sources.list"] + sorted(
            glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                out.append((m.group(2), [m.group(3)]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza,
                                     re.M))
            if "deb" in fields.get("Types", "").split() and \
                    fields.get("Enabled", "yes") != "no":
                for uri in fields.get("URIs", "").split():
                    out.append((uri, fields.get("Suites", "").split()))
    return out


def mirrors():
    """(the Debian archive's URI, the security archive's URI or None).

    The archive is the source that carries bookworm itself; the security
    one carries bookworm-security.  Other sources (vendors') are ignored."""
    archive = security = None
    for uri, suites in _sources():
        if SUITE in suites and archive is None:
            archive = uri
        if SUITE + "-security" in suites and security is None:
            security = uri
    return archive, security


# ------------------------------------------------------------ base image

def _proxy_cas():
    """The host's local CA certificates (a TLS-intercepting proxy's)."""
    return sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))


def rootfs_tarball(log):
    """build/containers/rootfs-*.tar, made by debootstrap when missing.

    Its name hashes what goes in (mirrors, local CAs), so a change makes a
    new one.  The local CA certificates go into the rootfs so apt and npm
    inside the build trust a proxy; that is this test's business, never
    the Dockerfile's."""
    archive, security = mirrors()
    h = hashlib.sha256(("%s %s %s" % (SUITE, archive, security)).encode())
    for ca in _proxy_cas():
        h.update(open(ca, "rb").read())
    tarball = os.path.join(CACHE, "rootfs-%s-%s.tar" % (SUITE,
                                                        h.hexdigest()[:12]))
    if os.path.exists(tarball):
        return tarball, False
    os.makedirs(CACHE, exist_ok=True)
    for old in glob.glob(os.path.join(CACHE, "rootfs-*.tar")):
        os.unlink(old)
    work = tempfile.mkdtemp(prefix="rootfs.", dir=CACHE)
    try:
        rootfs = os.path.join(work, "rootfs")
        r = run(["debootstrap", "--variant=minbase", SUITE, rootfs, archive],
                timeout=900)
        log.write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise RuntimeError("debootstrap failed:\n" + r.stderr[-2000:])
        suites = "%s %s-updates" % (SUITE, SUITE)
        text = ("Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n"
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                % (archive, suites))
        if security:
            text += ("\nTypes: deb\nURIs: %s\nSuites: %s-security\n"
                     "Components: main\nSigned-By: "
                     "/usr/share/keyrings/debian-archive-keyring.gpg\n"
                     % (security, SUITE))
        with open(os.path.join(rootfs, "etc/apt/sources.list.d/"
                               "debian.sources"), "w") as f:
            f.write(text)
        try:
            os.unlink(os.path.join(rootfs, "etc/apt/sources.list"))
        except FileNotFoundError:
            pass
        cadir = os.path.join(rootfs, "usr/local/share/ca-certificates")
        os.makedirs(cadir, exist_ok=True)
        for ca in _proxy_cas():
            shutil.copy(ca, cadir)
        # As the official slim image: no package cache, no lists.
        for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in glob.glob(os.path.join(rootfs, d, "*")):
                if os.path.isfile(p):
                    os.unlink(p)
        r = run(["tar", "--numeric-owner", "-C", rootfs, "-cf",
                 tarball + ".tmp", "."], timeout=300)
        if r.returncode != 0:
            raise RuntimeError("tar failed: " + r.stderr[-2000:])
        os.rename(tarball + ".tmp", tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball, True


# ------------------------------------------------------------ the engine

class Engine:
    """Podman with this test's containers.conf, its API socket, and the
    health-check loop.  close() stops what it started, by PID."""

    def __init__(self, tmp, project):
        self.tmp = tmp
        self.project = project
        self.socket = os.path.join(tmp, "podman.sock")
        self.conf = os.path.join(tmp, "containers.conf")
        self.service = None
        self._hc_stop = threading.Event()
        self._hc = None
        # Containers may not get more than the hard limits Podman runs
        # with (raising them needs CAP_SYS_RESOURCE, which a VM may not
        # give): without this every start fails with "setrlimit
        # RLIMIT_NOFILE: Operation not permitted".  RLIMIT_NPROC above
        # 32768 fails the same way here even under a higher hard limit
        # (conmon's is 32768).
        # crun refuses hybrid cgroups (runc does not); without systemd,
        # cgroupfs and events to a file.
        def lim(which, most):
            hard = resource.getrlimit(which)[1]
            return most if hard == resource.RLIM_INFINITY else min(hard, most)
        nofile = lim(resource.RLIMIT_NOFILE, 20000)
        nproc = lim(resource.RLIMIT_NPROC, 32768)
        with open(self.conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=%d:%d", '
                    '"nproc=%d:%d"]\n\n[engine]\nruntime = "runc"\n'
                    'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n\n'
                    '[network]\nnetwork_backend = "netavark"\n'
                    % (nofile, nofile, nproc, nproc))
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf,
                        DOCKER_HOST="unix://" + self.socket)
        # docker-compose must not read a developer's compose settings.
        for k in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "DOCKER_CONTEXT",
                  "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            self.env.pop(k, None)

    def podman(self, *args, timeout=600):
        return run(["podman"] + list(args), env=self.env, timeout=timeout)

    def check(self):
        """Podman runs a container with this configuration: '' or why not."""
        r = self.podman("info", "--format", "{{.Host.OCIRuntime.Name}} "
                        "{{.Host.NetworkBackend}}", timeout=60)
        if r.returncode != 0:
            return "podman info failed: " + r.stderr.strip()[-300:]
        if r.stdout.split() != ["runc", "netavark"]:
            return "podman info: runtime and network %r" % r.stdout
        return ""

    def base_image(self, log):
        """Imports the cached rootfs when the base image is missing.
        Returns (seconds spent, what was done)."""
        t0 = time.time()
        if self.podman("image", "exists", BASE_TAG).returncode == 0:
            return 0.0, "cached"
        tarball, made = rootfs_tarball(log)
        r = self.podman("import", "--change", 'CMD ["bash"]', "--change",
                        "LABEL " + LABEL, tarball, BASE_TAG)
        if r.returncode != 0:
            raise RuntimeError("podman import failed: " + r.stderr[-2000:])
        return time.time() - t0, ("debootstrap + import" if made
                                  else "import of the cached rootfs")

    def prune_cache(self):
        """Drops this test's unnamed images made over CACHE_HOURS ago
        (everything built FROM the base image carries its label)."""
        return self.podman("image", "prune", "-f", "--filter",
                           "label=" + LABEL, "--filter",
                           "until=%dh" % CACHE_HOURS)

    def start(self, logfile):
        """The API socket for docker-compose, and the health-check loop."""
        self.service = subprocess.Popen(
            ["podman", "system", "service", "--time=0",
             "unix://" + self.socket], env=self.env, stdout=logfile,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.service.poll() is not None:
                raise RuntimeError("podman system service exited with %d"
                                   % self.service.returncode)
            r = run(["curl", "-fsS", "--unix-socket", self.socket,
                     "http://d/_ping"], timeout=10)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("podman system service: no answer in 60 s")
        self._hc = threading.Thread(target=self._health_loop, daemon=True)
        self._hc.start()

    def _health_loop(self):
        """As Docker would, but every 2 s whatever the interval: faster
        tests, and the retries still count (3 failures: unhealthy)."""
        while not self._hc_stop.wait(2):
            try:
                r = self.podman("ps", "-q", "--filter", "label=com.docker."
                                "compose.project=" + self.project,
                                timeout=60)
            except subprocess.TimeoutExpired:
                continue
            for cid in r.stdout.split():
                if self._hc_stop.is_set():
                    return
                # Exit 1 (unhealthy) or 125 (no health check) are fine;
                # a check that hangs is Docker's failed one too.
                try:
                    self.podman("healthcheck", "run", cid, timeout=60)
                except subprocess.TimeoutExpired:
                    pass

    def close(self):
        self._hc_stop.set()
        if self._hc is not None:
            self._hc.join(timeout=90)
        if self.service is not None and self.service.poll() is None:
            self.service.send_signal(signal.SIGTERM)
            try:
                self.service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.service.kill()
                self.service.wait()
