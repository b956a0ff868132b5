"""The `provenance` command line: run the service, manage keys, enroll works, check outputs, audit."""

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from api.schemas import CheckOut, WorkOut
from api.settings import Settings
from registry.errors import Conflict, ProvenanceError
from registry.models import Role, Verdict, WorkStatus
from registry.terms import PURPOSES, LicenseTerms, parse_opt_out_pairs
from service.registry import Registry, local_admin

if TYPE_CHECKING:
    from service.offline_filter import Decision

app = typer.Typer(help="Provenance: a content-fingerprinting and licensing registry for generative AI.",
                  no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
accounts_app = typer.Typer(help="Create and list accounts (a name and a role).", no_args_is_help=True)
works_app = typer.Typer(help="List and withdraw enrolled works.", no_args_is_help=True)
checks_app = typer.Typer(help="Read the history of checks.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the tamper-evident audit log.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"provenance {_package_version()}\n")
        raise typer.Exit()


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("provenance-registry")
    except PackageNotFoundError:
        return "unknown (not installed)"


@app.callback()
def _root(_version_flag: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                       help="Print the version and exit.")] = False) -> None:
    """Provenance: a content-fingerprinting and licensing registry for generative AI."""


app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(works_app, name="works")
app.add_typer(checks_app, name="checks")
app.add_typer(audit_app, name="audit")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[Path, typer.Option("--data-dir", envvar="PROVENANCE_DATA_DIR",
                                       help="Directory holding the database, originals and indexes.")]
Database = Annotated[str | None, typer.Option("--database", envvar="PROVENANCE_DATABASE_URL",
                                              help="Database URL; default: SQLite in the data directory.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DEFAULT_DATA = Path("./data")


def _open(data_dir: Path, database: str | None = None, sync: bool = False) -> Registry:
    """The registry, with the store open; the matchers open only when a command matches (or with `sync`)."""
    from service.wiring import open_registry

    return open_registry(Settings.load(data_dir=data_dir, database_url=database).service, sync=sync)


CLI = local_admin("cli")
CLI_OPERATOR = "cli-operator"  # checks from the command line without --operator
NAME_PATTERN = re.compile(r"^[\w.@+-]{1,100}$")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _table(*columns: str) -> Table:
    """A table whose id column is never cut or wrapped (the ids are what other commands take); the other
    columns wrap or shorten to fit the terminal."""
    table = Table()
    for i, name in enumerate(columns):
        if i == 0:
            table.add_column(name, no_wrap=True, min_width=24, overflow="ignore")
        else:
            table.add_column(name, overflow="fold")
    return table


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(msgspec.to_builtins(value), indent=2) + "\n")


@app.command()
def serve(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
          host: Annotated[str | None, typer.Option(
              help="Interface to listen on (PROVENANCE_HOST, default 127.0.0.1).")] = None,
          port: Annotated[int | None, typer.Option(help="TCP port (PROVENANCE_PORT, default 8000).")] = None) -> None:
    """Run the HTTP API and the web interface (SQLite and local index files by default)."""
    import uvicorn

    from api.app import create_app
    from api.observability import configure_logging

    settings = Settings.load(data_dir=data_dir, database_url=database, host=host, port=port)
    host, port = settings.server.host, settings.server.port
    out.print(f"Provenance serving {settings.service.storage.database} on http://{host}:{port} "
              f"(web interface at /, OpenAPI at /schema); loading the indexes...")
    configure_logging(settings.server.log_level)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False,
                log_level=settings.server.log_level)


@accounts_app.command("create")
def accounts_create(role: Annotated[Role, typer.Option(help="admin, creator, operator or auditor.")],
                    name: Annotated[str, typer.Option(help="The new account's name.")],
                    data_dir: DataDir = DEFAULT_DATA, database: Database = None) -> None:
    """Create an account (no key: `provenance keys create` gives it one)."""
    reg = _open(data_dir, database, sync=False)
    try:
        account = reg.create_account(CLI, name, role) if _valid_name(name) else None
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    assert account is not None
    out.print(f"created the {role.value} account {name!r} ({account.id}) in {_where(data_dir, database)}")


@accounts_app.command("list")
def accounts_list(data_dir: DataDir = DEFAULT_DATA, database: Database = None, as_json: AsJson = False) -> None:
    """List the accounts and their roles."""
    reg = _open(data_dir, database, sync=False)
    try:
        accounts = reg.accounts(CLI)
    finally:
        reg.close()
    if as_json:
        _json([{"id": a.id, "name": a.name, "role": a.role, "created_at": a.created_at} for a in accounts])
        return
    table = _table("id", "name", "role", "created (UTC)")
    for a in accounts:
        table.add_row(a.id, a.name, a.role.value, a.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


def _valid_name(name: str) -> bool:
    if not NAME_PATTERN.match(name):
        raise _fail(f"account name {name!r}: use 1 to 100 letters, digits and . _ @ + -", 2)
    return True


def _where(data_dir: Path, database: str | None) -> str:
    """Which registry a command wrote to, as a user would name it."""
    return f"the registry at {database}" if database else f"the registry in {data_dir.resolve()}"


@keys_app.command("create")
def keys_create(role: Annotated[Role, typer.Option(help="admin, creator, operator or auditor.")],
                name: Annotated[str, typer.Option(help="Account name; a new name creates the account.")],
                data_dir: DataDir = DEFAULT_DATA, database: Database = None) -> None:
    """Create an API key; the key alone is printed on stdout, once (what was done goes to stderr). Only its
    hash is stored. A server reads keys from its own data directory or database: point this command at the
    same one (--data-dir / PROVENANCE_DATA_DIR, --database / PROVENANCE_DATABASE_URL)."""
    _valid_name(name)
    reg = _open(data_dir, database, sync=False)
    try:
        new = name not in {a.name for a in reg.accounts(CLI)}
        key, secret = reg.create_key(name, role)
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    err.print(f"{'created the ' + role.value + ' account ' + repr(name) + ' and ' if new else ''}"
              f"a key {key.id} for {name!r} in {_where(data_dir, database)}")
    sys.stdout.write(secret + "\n")


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = DEFAULT_DATA, database: Database = None) -> None:
    """Revoke a key by its id (see `provenance keys list`); it is refused at once."""
    reg = _open(data_dir, database, sync=False)
    try:
        key = reg.revoke_key(CLI, key_id).key
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    out.print(f"revoked {key.id} ({key.prefix}...)")


@keys_app.command("list")
def keys_list(data_dir: DataDir = DEFAULT_DATA, database: Database = None, as_json: AsJson = False) -> None:
    """List keys (ids and prefixes; secrets are never stored)."""
    reg = _open(data_dir, database, sync=False)
    try:
        keys = reg.list_keys(CLI)
    finally:
        reg.close()
    if as_json:
        _json([{"id": i.key.id, "prefix": i.key.prefix, "account": i.account.name, "role": i.account.role,
                "created_at": i.key.created_at, "revoked_at": i.key.revoked_at} for i in keys])
        return
    table = _table("id", "prefix", "account", "role", "created (UTC)", "revoked")
    for k, a in ((i.key, i.account) for i in keys):
        table.add_row(k.id, k.prefix, a.name, a.role.value, k.created_at.strftime("%Y-%m-%d %H:%M"),
                      k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "")
    out.print(table)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            found.append(p)
    return found


@app.command()
def enroll(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to enroll.")],
    owner: Annotated[str, typer.Option(help="The creator account's name (see `provenance accounts list`).")],
    data_dir: DataDir = DEFAULT_DATA,
    database: Database = None,
    title: Annotated[str | None, typer.Option(help="Title (default: the file name).")] = None,
    license_id: Annotated[str | None, typer.Option("--license", help="SPDX id, or 'custom'.")] = None,
    terms_url: Annotated[str | None, typer.Option(help="Where the license terms are.")] = None,
    attribution: Annotated[bool, typer.Option(help="Whether attribution is required.")] = True,
    commercial: Annotated[bool, typer.Option(help="Whether commercial use is allowed.")] = False,
    opt_out: Annotated[list[str] | None, typer.Option(
        "--opt-out", help="KEY=VALUE, e.g. ai_training=notAllowed, release=attribution, "
                          "data_mining=constrained:https://example.org/terms")] = None,
) -> None:
    """Enroll works; ends with what was enrolled, skipped (already enrolled) and rejected (and why)."""
    try:
        license = LicenseTerms(id=license_id, terms_url=terms_url, attribution_required=attribution,
                               commercial_use=commercial) if license_id else None
        opt_outs = parse_opt_out_pairs(opt_out) if opt_out else None
    except (ProvenanceError, ValueError) as exc:
        raise _fail(getattr(exc, "message", str(exc)), 2) from None
    files = _files(paths)
    missing = [f for f in files if not f.exists()]
    if missing:
        raise _fail(f"no such file: {missing[0]}", 2)
    reg = _open(data_dir, database, sync=False)
    try:
        account = reg.named_account(owner, Role.CREATOR)
    except ProvenanceError as exc:
        reg.close()
        raise _fail(exc.message, 2) from None
    enrolled, skipped, rejected = [], [], []
    try:
        with Progress(console=err, disable=len(files) < 5) as progress:
            task = progress.add_task("enrolling", total=len(files))
            for f in files:
                try:
                    work = reg.enroll(account, f.read_bytes(), title=title or f.name, license=license,
                                      opt_outs=opt_outs, filename=f.name)
                    enrolled.append((f, work.id))
                except Conflict as exc:
                    skipped.append((f, str(exc.details.get("existing_id"))))
                except ProvenanceError as exc:
                    rejected.append((f, exc.message))
                except OSError as exc:
                    rejected.append((f, f"cannot read: {exc.strerror}"))
                progress.advance(task)
        reg.indexes.save()
    finally:
        reg.close()
    for f, wid in enrolled:
        out.print(f"[green]enrolled[/green] {f} -> {wid}")
    for f, wid in skipped:
        out.print(f"[yellow]skipped[/yellow]  {f}: already enrolled as {wid}")
    for f, why in rejected:
        err.print(f"[red]rejected[/red] {f}: {why}")
    out.print(f"{len(enrolled)} enrolled, {len(skipped)} skipped, {len(rejected)} rejected")
    if rejected:
        raise typer.Exit(1)


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="The output (image or text) to check.")],
    data_dir: DataDir = DEFAULT_DATA,
    database: Database = None,
    purpose: Annotated[str, typer.Option(help=f"One of: {', '.join(PURPOSES)}.")] = "release",
    operator: Annotated[str | None, typer.Option(
        help=f"The operator account's name (default: {CLI_OPERATOR!r}, made on first use).")] = None,
    as_json: AsJson = False,
) -> None:
    """Check an output against the registry: the verdict, and each matched work with its terms."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}", 2) from None
    reg = _open(data_dir, database, sync=True)
    try:
        account = reg.named_account(operator, Role.OPERATOR) if operator else reg.ensure_account(CLI_OPERATOR,
                                                                                                  Role.OPERATOR)
        result = reg.check(account, data, purpose, filename=path.name)
        names = reg.account_names()
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    if as_json:  # the API's shape for a check
        _json(CheckOut.of(result, names))
        return
    colour = {"clear": "green", "attribution_required": "cyan", "license_required": "yellow", "blocked": "red"}
    out.print(f"verdict: [{colour[result.verdict]}]{result.verdict}[/] for {purpose} (check {result.id})")
    for m in result.matches:
        lic = m.license
        out.print(f"  {m.score:.3f}  {m.work_id}  {m.title!r}  license={lic.id}"
                  f"{' attribution' if lic.attribution_required else ''}"
                  f"{' commercial' if lic.commercial_use else ' non-commercial'}"
                  f"  {purpose}={m.requirement}")
        oo = m.opt_outs
        out.print(f"         opt-outs: ai_training={oo.ai_training.use} "
                  f"ai_generative_training={oo.ai_generative_training.use} ai_inference={oo.ai_inference.use} "
                  f"data_mining={oo.data_mining.use} release={oo.release}")


@works_app.command("list")
def works_list(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
               owner: Annotated[str | None, typer.Option(help="Only this creator's works.")] = None,
               status: Annotated[WorkStatus | None, typer.Option(
                   help="active, withdrawn, contested or rejected.")] = None,
               limit: int = 100, offset: int = 0, as_json: AsJson = False) -> None:
    """List enrolled works."""
    reg = _open(data_dir, database, sync=False)
    try:
        works = reg.list_works(CLI, owner_name=owner, status=status, limit=limit, offset=offset)
        names = reg.account_names()
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    if as_json:  # the API's shape for works
        _json([WorkOut.of(w, names.get(w.owner_id, w.owner_id)) for w in works])
        return
    table = _table("id", "kind", "title", "status", "license", "release", "created")
    for w in works:
        table.add_row(w.id, w.kind.value, w.title, w.status.value, w.license.id, w.opt_outs.release_use,
                      w.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


@works_app.command("withdraw")
def works_withdraw(work_id: str, data_dir: DataDir = DEFAULT_DATA, database: Database = None) -> None:
    """Withdraw a work: no longer matched, kept in the record."""
    reg = _open(data_dir, database)
    try:
        work = reg.withdraw(CLI, work_id)
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    out.print(f"withdrawn {work.id}")


@works_app.command("offers")
def works_offers(work_id: str,
                 offers: Annotated[Path, typer.Argument(help="A JSON file: a list of offers, as the API takes them "
                                                              "([] withdraws them all).")],
                 data_dir: DataDir = DEFAULT_DATA, database: Database = None) -> None:
    """Set the licences a work offers (replaces its list; audited). Operators request one with POST /v1/grants."""
    from registry.terms import Offer

    try:
        parsed = msgspec.json.decode(offers.read_bytes(), type=list[Offer])
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _fail(f"{offers} is not a list of offers: {exc}", 2) from None
    reg = _open(data_dir, database)
    try:
        work = reg.update_terms(CLI, work_id, None, None, offers=parsed)
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()
    for offer in work.offers:
        out.print(f"{work.id} offers {offer.id}: {offer.price} per {offer.per} for {', '.join(offer.purposes)}"
                  f"{' (granted at once)' if offer.auto_grant else ''}")
    if not work.offers:
        out.print(f"{work.id} offers no licence")


@checks_app.command("list")
def checks_list(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
                verdict: Annotated[Verdict | None, typer.Option(
                    help="clear, attribution_required, license_required or blocked.")] = None,
                work: Annotated[str | None, typer.Option(help="Only checks that matched this work.")] = None,
                limit: int = 100, offset: int = 0, as_json: AsJson = False) -> None:
    """List checks, newest first."""
    reg = _open(data_dir, database, sync=False)
    try:
        checks = reg.list_checks(CLI, reg.check_filter(CLI, verdict=verdict, work_id=work, limit=limit,
                                                       offset=offset))
        names = reg.account_names()
    finally:
        reg.close()
    if as_json:  # the API's shape for checks
        _json([CheckOut.of(c, names) for c in checks])
        return
    table = _table("id", "when", "purpose", "verdict", "matches")
    for c in checks:
        table.add_row(c.id, c.created_at.strftime("%Y-%m-%d %H:%M"), c.purpose, c.verdict.value,
                      ", ".join(f"{m.work_id} ({m.score:.2f})" for m in c.matches))
    out.print(table)


def _fetch(server: str, path: str, **params: int) -> Any:
    import httpx

    try:
        r = httpx.get(server.rstrip("/") + path, params=params, timeout=60)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
    if r.status_code != 200:
        raise _fail(f"{server}{path} answered {r.status_code}: {r.text[:300]}")
    return r.json()


def _public_key(path: Path) -> Any:
    from service.transparency import load_public_key

    raw = path.read_bytes()
    if raw.lstrip().startswith(b"{"):  # the JSON of GET /v1/audit/key, saved as it came
        raw = json.loads(raw)["public_key_pem"].encode()
    try:
        return load_public_key(raw)
    except (ValueError, ProvenanceError) as exc:
        raise _fail(f"{path} is not the log's public key (PEM): {exc}", 2) from None


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
                 head: Annotated[Path | None, typer.Option(help="A tree head saved earlier (JSON).")] = None,
                 key: Annotated[Path | None, typer.Option(help="The log's public key (PEM, or the JSON of "
                                                                 "/v1/audit/key).")] = None,
                 server: Annotated[str | None, typer.Option(help="The registry's URL.")] = None) -> None:
    """Verify the audit log. With --head, --key and --server: prove, from nothing but those, that the log only
    grew since the saved head (a consistency proof to the server's current head). Without: recompute the local
    hash chain and check the log against the last head this registry signed."""
    if head or key or server:
        if not (head and key and server):
            raise _fail("give --head, --key and --server together", 2)
        from registry.models import SignedTreeHead
        from service.transparency import verify_growth

        try:
            saved = msgspec.json.decode(head.read_bytes(), type=SignedTreeHead)
        except (OSError, msgspec.DecodeError) as exc:
            raise _fail(f"{head} is not a saved tree head: {exc}", 2) from None
        public = _public_key(key)
        current = msgspec.convert(_fetch(server, "/v1/audit/head"), SignedTreeHead)
        proof: list[str] = []
        if 0 < saved.size < current.size:
            proof = _fetch(server, "/v1/audit/proof/consistency", first=saved.size, second=current.size)["consistency"]
        problem = verify_growth(saved, current, proof, public)
        if problem:
            raise _fail(f"the audit log at {server} FAILS verification: {problem}")
        out.print(f"audit log OK: it only grew since the saved head ({saved.size} -> {current.size} entries); "
                  f"current root {current.root}, signed by key {current.key_id[:16]}...")
        return
    reg = _open(data_dir, database, sync=False)
    try:
        report = reg.verify_audit(CLI)
        status = reg.log_status(CLI)
    finally:
        reg.close()
    if not report.ok:
        raise _fail(f"audit chain BROKEN at entry {report.first_bad_seq}: {report.problem}")
    if not status.ok:
        raise _fail(f"audit log does not extend its last signed head: {status.problem}")
    signed = f"; last signed head: {status.last_signed.size} entries" if status.last_signed else ""
    out.print(f"audit chain OK: {report.entries} entries, head {report.head}{signed}")


@audit_app.command("head")
def audit_head(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
               server: Annotated[str | None, typer.Option(help="Fetch it from this registry's URL.")] = None) -> None:
    """Print the log's signed tree head as JSON (save it: a later `audit verify --head` proves growth from it)."""
    if server:
        sys.stdout.write(json.dumps(_fetch(server, "/v1/audit/head")) + "\n")
        return
    reg = _open(data_dir, database, sync=False)
    try:
        sys.stdout.write(msgspec.json.encode(reg.tree_head()).decode() + "\n")
    except ProvenanceError as exc:
        raise _fail(exc.message) from None
    finally:
        reg.close()


@audit_app.command("key")
def audit_key(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
              server: Annotated[str | None, typer.Option(help="Fetch it from this registry's URL.")] = None) -> None:
    """Print the public key (PEM) that verifies the log's heads."""
    if server:
        sys.stdout.write(_fetch(server, "/v1/audit/key")["public_key_pem"])
        return
    reg = _open(data_dir, database, sync=False)
    try:
        sys.stdout.write(reg.log_key()[0])
    finally:
        reg.close()


@audit_app.command("log")
def audit_log(data_dir: DataDir = DEFAULT_DATA, database: Database = None,
              after: Annotated[int, typer.Option(help="Entries after this sequence number.")] = 0,
              limit: int = 100) -> None:
    """Print audit entries as JSON lines."""
    reg = _open(data_dir, database, sync=False)
    try:
        entries = reg.audit_entries(CLI, after, limit)
    finally:
        reg.close()
    for e in entries:
        sys.stdout.write(msgspec.json.encode(e).decode() + "\n")


@app.command("verify-declaration")
def verify_declaration_cmd(
    declaration: Annotated[Path, typer.Argument(help="A saved public declaration (GET /public/works/{id}).")],
    key: Annotated[Path, typer.Option(help="The registry's public key: PEM, or the JSON of GET /public/key.")],
) -> None:
    """Check offline that a saved declaration was signed by the registry's key and is unchanged."""
    from service.declarations import verify_declaration

    try:
        doc = json.loads(declaration.read_bytes())
    except (OSError, ValueError) as exc:
        raise _fail(f"{declaration} is not a saved declaration (JSON): {exc}", 2) from None
    if not isinstance(doc, dict) or "signature" not in doc:
        raise _fail(f"{declaration} holds no signed declaration (no `signature` member)", 2)
    if not verify_declaration(doc, _public_key(key)):
        raise _fail(f"declaration of {doc.get('work_id', '?')} FAILS verification: it was changed or signed by "
                    "another key")
    reserved = doc.get("tdmrep", {}).get("tdm-reservation")
    out.print(f"declaration OK: work {doc.get('work_id')} ({doc.get('status')}), issued {doc.get('issued_at')}, "
              f"tdm-reservation {reserved}, signed by key {str(doc.get('key_id', ''))[:16]}...")


@app.command()
def reindex(data_dir: DataDir = DEFAULT_DATA, database: Database = None) -> None:
    """Rebuild every index from the stored originals (after changing the matcher or the embedder)."""
    reg = _open(data_dir, database, sync=False)
    try:
        report = reg.indexes.sync(rebuild=True)
    finally:
        reg.close()
    out.print(f"reindexed {report.added} works")
    for failure in report.failed:
        err.print(f"[red]failed[/red] {failure}")
    if report.failed:
        raise typer.Exit(1)


bank_app = typer.Typer(help="Download the signed opt-out bank for offline filtering.", no_args_is_help=True)
app.add_typer(bank_app, name="bank")


@bank_app.command("download")
def bank_download(
    server: Annotated[str, typer.Option(help="The registry's address, e.g. https://registry.example.org")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the bank (NDJSON).")] = Path("bank.ndjson"),
    key: Annotated[str | None, typer.Option(envvar="PROVENANCE_API_KEY",
                                            help="An operator's or auditor's API key (none for a public bank).")]
    = None,
    purpose: Annotated[str, typer.Option(help="ai_training, ai_generative_training, ai_inference or data_mining.")]
    = "ai_training",
) -> None:
    """Download the bank and the registry's public key (written beside it as <out>.key.json), and verify it."""
    import httpx

    from service.bank import BankError, verify

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = server.rstrip("/")
    try:
        with httpx.stream("GET", f"{base}/v1/bank", params={"purpose": purpose}, headers=headers, timeout=600) as r:
            if r.status_code != 200:
                r.read()
                raise _fail(f"{base}/v1/bank answered {r.status_code}: {r.text[:300]}")
            with out_file.open("wb") as f:
                for chunk in r.iter_bytes():
                    f.write(chunk)
        key_json = httpx.get(f"{base}/v1/bank/key", timeout=60)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
    key_path = out_file.with_name(out_file.name + ".key.json")
    key_path.write_bytes(key_json.content)
    try:
        with out_file.open("rb") as f:
            header, entries = verify(f, _public_key(key_path))
    except BankError as exc:
        raise _fail(f"the downloaded bank does not verify: {exc}") from None
    out.print(f"{out_file}: {len(entries)} reserved works for {header['purpose']}, cursor {header['cursor']}; "
              f"key {key_path}")


@app.command("filter")
def filter_dataset(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files and folders to filter.")] = None,
    bank_file: Annotated[Path | None, typer.Option("--bank", help="A bank from `provenance bank download`.")] = None,
    bank_key: Annotated[Path | None, typer.Option(help="The registry's public key (default: <bank>.key.json).")]
    = None,
    urls: Annotated[Path | None, typer.Option(help="A file of URLs, one a line, checked against locations.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write kept.txt and excluded.csv.")]
    = Path("filtered"),
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes hashing the files.")] = 2,
    server: Annotated[str | None, typer.Option(help="Match through this registry's POST /v1/lookups instead "
                                               "(full matching; needs --key).")] = None,
    key: Annotated[str | None, typer.Option(envvar="PROVENANCE_API_KEY", help="An operator's API key.")] = None,
    purpose: Annotated[str, typer.Option(help="The purpose, with --server (a bank has its own).")] = "ai_training",
) -> None:
    """Leave out of a dataset the items a creator reserved: offline against a bank, or through a server.

    Writes OUT/kept.txt (the items to keep, one a line) and OUT/excluded.csv (item, reason, work, matched by,
    confidence); unreadable files are kept out of both and listed in OUT/unreadable.csv."""
    import csv

    files = _files(paths or [])
    url_list = [u.strip() for u in urls.read_text().splitlines() if u.strip()] if urls else []
    if not files and not url_list:
        raise _fail("nothing to filter: give files, folders or --urls", 2)
    if (bank_file is None) == (server is None):
        raise _fail("give either --bank (offline) or --server (through the registry)", 2)
    if server is not None:
        decisions = _filter_through_server(server, key, purpose, files, url_list)
    else:
        assert bank_file is not None
        decisions = _filter_offline(bank_file, bank_key, files, url_list, workers)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = [d for d in decisions if not d.excluded and d.reason != "unreadable"]
    excluded = [d for d in decisions if d.excluded]
    unreadable = [d for d in decisions if d.reason == "unreadable"]
    (out_dir / "kept.txt").write_text("".join(d.item + "\n" for d in kept))
    for name, rows in (("excluded.csv", excluded), ("unreadable.csv", unreadable)):
        with (out_dir / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["item", "reason", "work_id", "matched_by", "confidence", "detail"])
            writer.writerows([d.item, d.reason, d.work_id or "", d.by or "", d.confidence or "", d.detail or ""]
                             for d in rows)
    out.print(f"kept {len(kept)}, excluded {len(excluded)}, unreadable {len(unreadable)}: {out_dir}/")


def _filter_offline(bank_file: Path, bank_key: Path | None, files: list[Path], url_list: list[str],
                    workers: int) -> "list[Decision]":
    import functools
    from concurrent.futures import ProcessPoolExecutor

    from service.bank import BankError, verify
    from service.offline_filter import Decision, OfflineFilter, hash_file

    key_path = bank_key or bank_file.with_name(bank_file.name + ".key.json")
    if not key_path.exists():
        raise _fail(f"no key to verify the bank: {key_path} is missing; pass --bank-key", 2)
    try:
        with bank_file.open("rb") as f:
            header, entries = verify(f, _public_key(key_path))
    except BankError as exc:
        raise _fail(f"{bank_file} is not a bank this key signed, unaltered: {exc}; download it again", 2) from None
    except OSError as exc:
        raise _fail(f"cannot read {bank_file}: {exc}", 2) from None
    bank = OfflineFilter(header, entries)
    decisions: list[Decision] = [bank.check_url(u) for u in url_list]
    hasher = functools.partial(hash_file, params=bank.params)
    with Progress(console=err) as progress:
        task = progress.add_task(f"filtering against {len(bank)} reserved works", total=len(files))
        if workers == 1:
            hashed = map(hasher, files)
            for h in hashed:
                decisions.append(bank.check_hashed(h))
                progress.advance(task)
        else:
            with ProcessPoolExecutor(workers) as pool:
                for h in pool.map(hasher, files, chunksize=16):
                    decisions.append(bank.check_hashed(h))
                    progress.advance(task)
    return decisions


def _filter_through_server(server: str, key: str | None, purpose: str, files: list[Path],
                           url_list: list[str]) -> "list[Decision]":
    import httpx

    from service.offline_filter import Decision

    if not key:
        raise _fail("--server needs an operator's API key (--key or PROVENANCE_API_KEY)", 2)
    headers = {"Authorization": f"Bearer {key}"}
    base = server.rstrip("/")
    decisions: list[Decision] = []

    def record(results: list[dict[str, Any]], items: list[str]) -> None:
        for item, r in zip(items, results, strict=True):
            best = r["matches"][0] if r["matches"] else {}
            decisions.append(Decision(item=item, excluded=not r["allowed"], reason=r["reason"],
                                      work_id=best.get("work_id"), by=best.get("by"),
                                      confidence=best.get("confidence")))

    with Progress(console=err) as progress, httpx.Client(timeout=600, headers=headers) as client:
        task = progress.add_task("looking up", total=len(files) + len(url_list))
        for start in range(0, len(url_list), 10_000):
            part = url_list[start : start + 10_000]
            r = client.post(f"{base}/v1/lookups", json={"purpose": purpose,
                            "items": [{"id": str(n), "url": u} for n, u in enumerate(part)]})
            if r.status_code != 200:
                raise _fail(f"{base}/v1/lookups answered {r.status_code}: {r.text[:300]}")
            record(r.json()["results"], part)
            progress.advance(task, len(part))
        for start in range(0, len(files), 100):
            batch = files[start : start + 100]
            progress.advance(task, len(batch))
            while batch:
                uploads = [("files", (str(n), p.read_bytes())) for n, p in enumerate(batch)]
                r = client.post(f"{base}/v1/lookups", files=uploads, data={"purpose": purpose})
                bad = r.json().get("error", {}).get("details", {}).get("item") if r.status_code in (400, 415) else None
                if isinstance(bad, int) and 0 <= bad < len(batch):  # one file the registry cannot read: set aside
                    decisions.append(Decision(item=str(batch[bad]), excluded=False, reason="unreadable",
                                              detail=r.json()["error"]["message"]))
                    batch = batch[:bad] + batch[bad + 1 :]
                    continue
                if r.status_code != 200:
                    raise _fail(f"{base}/v1/lookups answered {r.status_code}: {r.text[:300]}")
                record(r.json()["results"], [str(p) for p in batch])
                break
    return decisions


def _plain_metavars(cmd: Any) -> None:
    """Help that reads `--owner OWNER` and `PATHS...`, not typer's `<str>` and `<list[Path]>`."""
    for p in getattr(cmd, "params", []):
        if getattr(p, "is_flag", False) or getattr(p, "count", False) or not p.name:
            continue
        p.metavar = p.name.upper()
        if getattr(p, "param_type_name", "") == "argument":  # its name says what it is; no `<list[Path]>`
            p.display_type_rich = lambda ctx: ""
    for sub in getattr(cmd, "commands", {}).values():
        _plain_metavars(sub)


def command() -> Any:
    """The `provenance` command as click runs it (what `main` runs; tests invoke it too)."""
    cmd = typer.main.get_command(app)
    _plain_metavars(cmd)
    return cmd


def main() -> None:
    command()()


if __name__ == "__main__":
    main()
