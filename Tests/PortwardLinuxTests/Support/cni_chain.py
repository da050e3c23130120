#!/usr/bin/env python3
"""Runs one CNI operation over a network configuration list the way a runtime does
(CNI spec 1.0, section 3): each plugin of the list in order (reverse order for DEL), with
the request configuration derived from the list (cniVersion and name inserted, prevResult
set to the previous plugin's result for ADD, to the cached ADD result for CHECK and DEL),
the plugin found in CNI_PATH by its type, CNI_* in the environment, JSON on stdin.

usage: cni_chain.py COMMAND CONFLIST CACHE   (env: CNI_PATH, CNI_NETNS, CNI_CONTAINERID,
CNI_IFNAME, plus whatever the plugins need)
Prints one JSON object: {"steps": [{"type", "exit", "stdout", "prevResult"}], "result"}.
Stops at the first plugin that fails (except for DEL, which goes on, best effort).
"""
import json, os, subprocess, sys

command, conflist_path, cache = sys.argv[1:4]
with open(conflist_path) as f:
    conflist = json.load(f)
plugins = conflist["plugins"]
if command == "DEL":
    plugins = list(reversed(plugins))
prev = None
if command in ("CHECK", "DEL") and os.path.exists(cache):
    with open(cache) as f:
        prev = json.load(f)
steps = []
result = None
for plugin in plugins:
    conf = dict(plugin)
    conf["cniVersion"] = conflist["cniVersion"]
    conf["name"] = conflist["name"]
    if prev is not None:
        conf["prevResult"] = prev
    exe = next((os.path.join(d, plugin["type"]) for d in os.environ["CNI_PATH"].split(":")
                if os.access(os.path.join(d, plugin["type"]), os.X_OK)), None)
    if exe is None:
        steps.append({"type": plugin["type"], "exit": 127, "stdout": "", "prevResult": prev})
        break
    env = dict(os.environ, CNI_COMMAND=command)
    p = subprocess.run([exe], input=json.dumps(conf).encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env)
    out = p.stdout.decode()
    steps.append({"type": plugin["type"], "exit": p.returncode, "stdout": out,
                  "stderr": p.stderr.decode(), "prevResult": prev})
    if p.returncode != 0 and command != "DEL":
        break
    if command == "ADD":
        prev = json.loads(out)
        result = prev
if command == "ADD" and result is not None and all(s["exit"] == 0 for s in steps):
    with open(cache, "w") as f:
        json.dump(result, f)
if command == "DEL" and os.path.exists(cache):
    os.unlink(cache)
print(json.dumps({"steps": steps, "result": result}))
