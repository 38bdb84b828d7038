# The driver of scripts/config-mutants: runs inside its namespaces (see there).
import os, random, subprocess, sys, shutil, re, tempfile
corpus, vigild, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
for d in ("/etc/keepalived", "/usr/local"):
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", d], check=True)
for p in ["/etc/keepalived/check_nginx.sh","/etc/keepalived/nginx_pid.sh","/etc/keepalived/notify.sh","/etc/keepalived/check.sh","/usr/local/keepalived/etc/keepalived/notify.sh","/usr/local/nginx/nginx_check.sh","/usr/local/bin/check.sh","/usr/local/bin/notify.sh"]:
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p,"w").write("#!/bin/sh\nexit 0\n"); os.chmod(p, 0o755)
work = tempfile.mkdtemp(prefix="vigil-mutants-")

shutil.copytree(corpus, work, dirs_exist_ok=True)
entries = []
# VIGIL_MUTANTS_MATCH: only entries whose text matches this regular expression.
only = os.environ.get("VIGIL_MUTANTS_MATCH")
for f in sorted(os.listdir(corpus)):
    if not f.endswith(".conf"): continue
    text = open(os.path.join(corpus, f), encoding="utf-8", errors="replace").read()
    if re.search(r"^! corpus: (?!about)", text, re.M): continue
    if only and not re.search(only, text, re.M): continue
    entries.append((f, text.split("\n")))
muts = []
for f, lines in entries:
    for i, l in enumerate(lines):
        s = l.strip()
        if not s or s[0] in "#!": continue
        for k in ("del", "droplast", "x", "big", "neg", "dup"):
            muts.append((f, i, k))
random.shuffle(muts)
def run(cmd):
    try:
        r = subprocess.run(cmd, cwd=work, capture_output=True, timeout=20)
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", ""
diffs = 0
for f, i, k in muts[:n]:
    lines = dict(entries)[f][:]
    w = lines[i].split()
    if k == "del": lines[i] = ""
    elif k == "dup": lines.insert(i, lines[i])
    elif len(w) < 2 and k != "droplast": continue
    elif k == "droplast": lines[i] = " ".join(w[:-1])
    elif k == "x": lines[i] = " ".join(w[:-1] + ["x"])
    elif k == "big": lines[i] = " ".join(w[:-1] + ["99999999999"])
    elif k == "neg": lines[i] = " ".join(w[:-1] + ["-1"])
    open(os.path.join(work, "m.conf"), "w").write("\n".join(lines))
    ka, kout = run(["keepalived", "-t", "-f", "m.conf"])
    vg, vout = run([vigild, "-t", "-f", "m.conf"])
    if ka != vg and ka not in (134, 139, 143, -6, -11, -15, "timeout"):
        diffs += 1
        print(f"DIFF {f} line {i+1} {k}: ka={ka} vg={vg} :: {lines[i].strip()[:80]!r}")
        kl = [x for x in kout.splitlines() if x.strip()][:4]
        vl = [x for x in vout.splitlines() if "warning" in x or "error" in x][:4]
        print("   ka: " + " | ".join(kl)[:400]); print("   vg: " + " | ".join(vl)[:400])
print(f"done {min(n,len(muts))} mutants of {len(muts)}, {diffs} exit differences", file=sys.stderr)
shutil.rmtree(work, ignore_errors=True)
