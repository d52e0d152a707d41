"""The project's S3 remote (``.dvc/config``: remote ``s3``): checking it and pointing it at a store.

The committed config names the remote and a default bucket path only; the
endpoint (empty for AWS), the credentials and any other bucket come from
``dvc remote modify --local`` (``.dvc/config.local``, never committed) or from
the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, ...), so the same repository works
with AWS, MinIO, SeaweedFS or any S3-compatible store.

Unlike the pipeline's modules this one reads DVC's config (as
``musicml.drums.kits.dvc_add`` runs ``dvc add``): it is the user's tooling
around the remote, called by ``musicml s3`` and ``make push/pull``, never by a stage.
"""

from __future__ import annotations

import os
from pathlib import Path

from musicml.errors import ConfigError

REMOTE = "s3"
# Where `dvc remote modify --local` keeps its settings: git-ignored by .dvc/.gitignore.
LOCAL_CONFIG = ".dvc/config.local"


def remote_config(repo: str | os.PathLike = ".", name: str = REMOTE) -> dict:
    """The remote's merged settings (system, global, ``.dvc/config`` and ``.dvc/config.local``).

    Raises
    ------
    ConfigError
        When the repository has no such remote.
    """
    from dvc.config import Config, ConfigError as DvcConfigError

    dvc_dir = Path(repo) / ".dvc"
    if not dvc_dir.is_dir():
        raise ConfigError(f"{Path(repo).resolve()}: not a DVC repository (no .dvc folder)")
    try:
        remotes = Config(dvc_dir=str(dvc_dir))["remote"]
    except DvcConfigError as exc:
        raise ConfigError(f"{dvc_dir}/config: {exc}") from exc
    if name not in remotes:
        raise ConfigError(f"{dvc_dir}/config: no remote '{name}' (have: {', '.join(remotes) or 'none'})")
    return dict(remotes[name])


def credential_source(config: dict) -> str | None:
    """Where the remote's credentials come from, in the order dvc-s3 looks; None when nowhere.

    Remote settings first (``access_key_id`` / ``secret_access_key``,
    ``profile``, ``credentialpath``), then botocore's own chain: environment,
    ``~/.aws`` files, SSO, container and instance roles.
    """
    if config.get("access_key_id") and config.get("secret_access_key"):
        return "the remote's access_key_id/secret_access_key (dvc remote modify --local)"
    import botocore.session
    from botocore.exceptions import BotoCoreError

    session = botocore.session.get_session()
    if config.get("credentialpath"):
        session.set_config_variable("credentials_file", str(config["credentialpath"]))
    if config.get("profile"):
        session.set_config_variable("profile", str(config["profile"]))
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:  # e.g. a profile named in the remote that the files lack
        raise ConfigError(f"remote credentials: {exc}") from exc
    if credentials is None:
        return None
    return f"botocore's {credentials.method} credentials"


def check_remote(repo: str | os.PathLike = ".", name: str = REMOTE) -> str:
    """Check that ``dvc push/pull -r name`` can authenticate; a one-line description of the remote.

    Raises
    ------
    ConfigError
        One line naming what is missing and the commands that set it.
    """
    config = remote_config(repo, name)
    url = config.get("url", "")
    if not str(url).startswith("s3://"):
        raise ConfigError(f"remote '{name}': url '{url}' is not s3://BUCKET/PATH "
                          f"(set it: dvc remote modify --local {name} url s3://BUCKET/PATH)")
    source = credential_source(config)
    if source is None:
        raise ConfigError(
            f"remote '{name}' ({url}) has no credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            f"(or AWS_PROFILE), or run `dvc remote modify --local {name} access_key_id ID` and "
            f"`dvc remote modify --local {name} secret_access_key KEY`; for a local store: make s3-local")
    endpoint = config.get("endpointurl") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return f"remote '{name}': {url} at {endpoint or 'AWS S3'}, credentials from {source}"


def local_settings(*, endpoint: str, bucket: str, access_key: str, secret_key: str, prefix: str = "dvc",
                   name: str = REMOTE) -> list[list[str]]:
    """The ``dvc remote modify --local`` commands that point remote ``name`` at an S3 store."""
    settings = {"url": f"s3://{bucket}/{prefix}".rstrip("/"), "endpointurl": endpoint,
                "access_key_id": access_key, "secret_access_key": secret_key}
    return [["dvc", "remote", "modify", "--local", name, key, value] for key, value in settings.items()]


def apply_local_settings(commands: list[list[str]], repo: str | os.PathLike = ".") -> None:
    """Do what the ``dvc remote modify --local`` commands of :func:`local_settings` say, in ``repo``.

    Written through DVC's own config API (one process, not one ``dvc`` per key),
    into ``.dvc/config.local`` with DVC's validation.

    Raises
    ------
    ConfigError
        When DVC rejects a setting.
    """
    from dvc.config import Config, ConfigError as DvcConfigError

    dvc_dir = Path(repo) / ".dvc"
    try:
        with Config(dvc_dir=str(dvc_dir)).edit("local") as conf:
            for _dvc, _remote, _modify, _local, name, key, value in commands:
                conf.setdefault("remote", {}).setdefault(name, {})[key] = value
    except DvcConfigError as exc:
        raise ConfigError(f"{dvc_dir / 'config.local'}: {exc}") from exc
