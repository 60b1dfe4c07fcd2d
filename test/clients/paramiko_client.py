"""Drives Warden's SSH listener with paramiko for test/ssh-clients.e2e.test.ts.

Reads one JSON object on stdin (host, port, user, token, host_key "type base64", work dir, denied command) and
prints one JSON object with what each step saw: exec output and exit status, an SFTP round trip's checksums, and a
denied exec's status and stderr. Warden's host key is pinned (RejectPolicy): an unknown key fails the run.
"""
import base64
import hashlib
import io
import json
import os
import sys

import paramiko


def run(client, command):
    stdin, stdout, stderr = client.exec_command(command, timeout=60)
    stdin.close()
    out = stdout.read().decode()
    err = stderr.read().decode()
    return {"stdout": out, "stderr": err, "status": stdout.channel.recv_exit_status()}


def main():
    args = json.load(sys.stdin)
    client = paramiko.SSHClient()
    key_type, key_data = args["host_key"].split(" ")[:2]
    client.get_host_keys().add(f"[{args['host']}]:{args['port']}", key_type, paramiko.Ed25519Key(data=base64.b64decode(key_data)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(args["host"], port=args["port"], username=args["user"], password=args["token"],
                   allow_agent=False, look_for_keys=False, timeout=30, banner_timeout=30, auth_timeout=30)
    result = {"exec": run(client, "echo hello-from-paramiko; exit 3")}
    data = os.urandom(1024 * 1024 + 17)
    sftp = client.open_sftp()
    remote = f"{args['work']}/paramiko.bin"
    sftp.putfo(io.BytesIO(data), remote)
    back = io.BytesIO()
    sftp.getfo(remote, back)
    sftp.remove(remote)
    sftp.close()
    result["sftp"] = {"sent": hashlib.sha256(data).hexdigest(), "got": hashlib.sha256(back.getvalue()).hexdigest(),
                      "size": len(back.getvalue())}
    result["denied"] = run(client, args["denied"])
    client.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
