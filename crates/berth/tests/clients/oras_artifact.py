#!/usr/bin/env python3
"""Drive the oras Python SDK (PyPI `oras`) for berth's client tests (tests/clients.rs).

Usage: oras_artifact.py '<json request>'   (prints one JSON object on stdout)

Requests ("op"):
  push_with_config  oras's high-level `OrasClient.push`: one file layer, a config with a custom
                    mediaType (the artifact's type when a manifest has no `artifactType`), manifest
                    annotations and a `subject` (optional). Fields: registry, target, file,
                    file_media_type, config_file, config_media_type, annotations,
                    subject {mediaType,digest,size}.
  push_typed        an OCI 1.1 artifact with an explicit `artifactType` and the empty config,
                    built here byte for byte; oras uploads the blobs (`upload_blob`) and the
                    manifest goes through oras's request layer (`do_request`) so the exact bytes
                    are known. Fields: registry, target, file, file_media_type, artifact_type,
                    annotations, subject, by_digest (PUT by digest instead of the target's tag).
  pull              `OrasClient.pull` into outdir. Fields: registry, target, outdir.

Every request may carry "username" and "password" (a password, robot token or app token):
the client logs in with them (oras's `login`, which stores them in "auth_config", a Docker
config file in the test's temp folder) and trades them for registry tokens at the realm of
each `Bearer` challenge.

Every push answers {"status", "digest" (Docker-Content-Digest), "oci_subject" (OCI-Subject
header or null), "location"}; push_typed adds "sent_digest" and "manifest_size" computed from the
bytes sent. pull answers {"files": [...]}.
"""

import hashlib
import json
import os
import sys
import tempfile

import oras.auth
import oras.auth.token
import oras.client
import oras.oci

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class ScopedTokenAuth(oras.auth.token.TokenAuth):
    """oras's token backend, asking for a new token when the one it holds lacks the scope.

    oras-py 0.2.x keeps the first token it gets and, on a later 401, retries with that same
    token (it asks again only after a 403). Registries answer a token without the needed
    action with 401 and `error="insufficient_scope"` (Docker token authentication; CNCF
    Distribution does the same), so a push, whose first request (a blob HEAD) is challenged
    for `pull` only, could never get `push`. Docker, containerd and oras-go ask for a new
    token there; this does the same and nothing else.
    """

    def authenticate_request(self, original, headers, refresh=False):
        if 'error="insufficient_scope"' in original.headers.get("Www-Authenticate", ""):
            refresh = True
        return super().authenticate_request(original, headers, refresh)


oras.auth.auth_backends["berth-scoped-token"] = ScopedTokenAuth


def client(req):
    c = oras.client.OrasClient(
        hostname=req["registry"], insecure=True, auth_backend="berth-scoped-token"
    )
    if req.get("username"):
        c.login(
            username=req["username"],
            password=req["password"],
            hostname=req["registry"],
            config_path=req["auth_config"],
        )
    return c


def answer(resp, extra=None):
    out = {
        "status": resp.status_code,
        "digest": resp.headers.get("Docker-Content-Digest"),
        "oci_subject": resp.headers.get("OCI-Subject"),
        "location": resp.headers.get("Location"),
    }
    if resp.status_code not in (200, 201, 202):
        out["body"] = resp.text
    out.update(extra or {})
    return out


def subject(req):
    s = req["subject"]
    return oras.oci.Subject(mediaType=s["mediaType"], digest=s["digest"], size=int(s["size"]))


def push_with_config(req):
    c = client(req)
    resp = c.push(
        target=req["target"],
        files=[f"{req['file']}:{req['file_media_type']}"],
        disable_path_validation=True,
        manifest_config=f"{req['config_file']}:{req['config_media_type']}",
        manifest_annotations=req.get("annotations") or None,
        subject=subject(req) if req.get("subject") else None,
        quiet=True,
    )
    return answer(resp)


def check(resp, what):
    if resp.status_code not in (200, 201, 202):
        raise SystemExit(f"{what}: HTTP {resp.status_code} {resp.text}")


def push_typed(req):
    c = client(req)
    container = c.get_container(req["target"])
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.json")
        with open(empty, "wb") as f:
            f.write(b"{}")
        config = {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": 2}
        check(c.upload_blob(empty, container, config), "config blob upload")
    layer = oras.oci.NewLayer(req["file"], media_type=req["file_media_type"])
    layer["annotations"] = {"org.opencontainers.image.title": os.path.basename(req["file"])}
    # chunked (POST, PATCH with Content-Range, PUT ?digest=) for this one, monolithic elsewhere
    check(c.upload_blob(req["file"], container, layer, do_chunked=True, chunk_size=1000), "layer upload")
    s = req["subject"]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": req["artifact_type"],
        "config": config,
        "layers": [layer],
        "subject": {"mediaType": s["mediaType"], "digest": s["digest"], "size": int(s["size"])},
        "annotations": req.get("annotations") or {},
    }
    body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    # by_digest: PUT /v2/<name>/manifests/<digest>, no tag (how signatures usually travel)
    url = f"{c.prefix}://{container.manifest_url(digest if req.get('by_digest') else None)}"
    resp = c.do_request(url, "PUT", data=body, headers={"Content-Type": OCI_MANIFEST})
    return answer(
        resp,
        {"sent_digest": digest, "manifest_size": len(body)},
    )


def pull(req):
    files = client(req).pull(target=req["target"], outdir=req["outdir"])
    return {"files": files}


def main():
    req = json.loads(sys.argv[1])
    op = {"push_with_config": push_with_config, "push_typed": push_typed, "pull": pull}[req["op"]]
    print(json.dumps(op(req)))


if __name__ == "__main__":
    main()
