"""Families 3 to 5 of `bench/probe.py`: webhooks (bench/_probe_hooks.py), generated requests
to every API route and dashboard form (bench/_probe_gen.py), and parallel login guesses."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from yarl import URL

from bench import _probe_gen as gen
from bench import _probe_hooks as hooks
from bench._probe_site import (
    ATTACKER_ADDRESS,
    OWNER_ADDRESS,
    OWNER_PASSWORD,
    SPOOFER_ADDRESS,
    CountingHasher,
    Site,
    Tally,
    ask,
    cookie,
    login,
    session_cookie,
)

# API lists that take ?limit= and ?cursor= (and refuse bad ones).
PAGINATED = {
    "/members",
    "/broadcasts",
    "/broadcasts/{}/recipients",
    "/groups",
    "/join-requests",
    "/member-groups",
}


async def probe_webhooks(site: Site) -> Tally:
    """Each webhook request in turn; the rows in inbound_event counted around each."""
    from models import InboundEvent

    tally = Tally("3. Webhooks")
    for hook in [*hooks.telegram_hooks(), *hooks.whatsapp_hooks()]:
        before = await InboundEvent.all().count()
        answer = await ask(
            site.plain,
            hook.method,
            URL(hook.path, encoded=True),
            data=hook.body,
            headers=hook.headers,
        )
        stored = await InboundEvent.all().count() - before
        if hook.expect == "refuse":
            tally.add(hook.label, answer, accepted=answer.status < 400, lost=stored > 0)
        elif hook.expect == "replay":
            tally.add(hook.label, answer, lost=stored > 0, detail=f"{stored} stored again")
        else:
            tally.add(hook.label, answer)
    await site.hub.tasks.wait()
    failed = await InboundEvent.filter(error__not_isnull=True).values_list("external_id", "error")
    pending = await InboundEvent.filter(processed_at__isnull=True).values_list(
        "external_id", flat=True
    )
    statuses = sum(str(external_id).startswith("status:") for external_id in pending)
    tally.notes.append(
        f"stored events that failed in processing (kept with their error, not retried): "
        f"{len(failed)}; unprocessed: {len(pending)}, of which {statuses} statuses of messages "
        f"the hub never sent (they wait for a send record)"
    )
    for external_id, error in failed:
        tally.notes.append(f"failed event {external_id[:40]!r}: {str(error)[:110]}")
    return tally


async def probe_generated_api(site: Site, rng: random.Random, per_route: int) -> Tally:
    """For every API route: junk ids, junk queries, mutated JSON, wrong content types; and
    malformed multipart uploads. The answer must never be a 5xx."""
    from hub.web.permissions import Permission
    from tests.factories import bearer
    from tests.test_permissions import API_PROBES, _shape, _targets

    tally, world = Tally("4a. Generated API requests"), site.world
    targets = _targets(world)
    routes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    public = set()
    for probe in API_PROBES:
        route = _shape(probe.method, probe.path)
        bodies = routes.setdefault(route, [])
        if probe.body is not None:
            bodies.append(probe.body(targets["a"]))
        if probe.permission == Permission.PUBLIC:
            public.add(route)
    valid_ids = [str(v) for v in world.ids["a"].values()]
    lenient = 0
    tokens = [world.tokens["admin"]] * 4 + [world.tokens["staff_a"], world.tokens["official_a"]]
    for (method, shape), templates in routes.items():
        if shape == "/attachments":
            continue
        paginated = method == "GET" and shape in PAGINATED
        requests = gen.api_requests(
            rng, method, shape, templates, valid_ids, per_route, paginated=paginated
        )
        requests += gen.header_requests(
            shape.replace("{}", valid_ids[0]),
            world.tokens["admin"],
            public=(method, shape) in public,
        )
        for request in requests:
            headers = dict(request.headers) if request.own_auth else bearer(rng.choice(tokens))
            if request.content_type:
                headers["Content-Type"] = request.content_type
            answer = await ask(
                site.plain,
                request.method,
                URL(request.path, encoded=True),
                data=request.body,
                headers=headers,
            )
            tally.add(
                f"{request.method} {request.path[:70]} {request.label}",
                answer,
                accepted=request.must_refuse and answer.status < 300,
            )
            lenient += request.lenient and answer.status < 300
    tally.notes.append(
        f"ids and limits in forms int() reads as a number ('+1', ' 1', '1_0', Arabic-Indic or "
        f"full-width digits) taken as that number: {lenient} (lenient, not counted)"
    )
    token = world.tokens["admin"]
    for label, content_type, body, must_refuse in gen.multipart_cases("file", []):
        answer = await ask(
            site.plain,
            "POST",
            "/api/v1/attachments",
            data=body,
            headers=bearer(token) | {"Content-Type": content_type},
        )
        tally.add(
            f"POST /api/v1/attachments multipart {label}",
            answer,
            accepted=must_refuse and answer.status < 300,
        )
    return tally


async def probe_generated_dashboard(site: Site, rng: random.Random, per_page: int) -> Tally:
    """Every dashboard form with junk fields (CSRF passed, so the handler runs), every page with
    junk queries, and the compose form with malformed multipart bodies."""
    from hub.web.dashboard.base import CSRF_HEADER, SESSION_COOKIE
    from tests.test_permissions import DASHBOARD_PAGES

    tally, world = Tally("4b. Generated dashboard requests"), site.world
    ids = world.ids["a"] | {"name": "app.css"}
    token, csrf = await session_cookie(world.users["admin"])
    as_admin = cookie(SESSION_COOKIE, token)
    for page in DASHBOARD_PAGES:
        url = page.url(ids)
        if page.method == "GET":
            for label, target in gen.query_requests(rng, url.split("?")[0], per_page // 2):
                answer = await ask(site.plain, "GET", URL(target, encoded=True), headers=as_admin)
                tally.add(f"GET {target[:70]} {label}", answer)
        elif url not in ("/login", "/logout"):
            for label, body, content_type in gen.form_requests(rng, url, csrf, per_page):
                headers = as_admin | ({"Content-Type": content_type} if content_type else {})
                if rng.random() < 0.5:
                    headers[CSRF_HEADER] = csrf
                answer = await ask(site.plain, "POST", url, data=body, headers=headers)
                tally.add(f"POST {url} {label}", answer)
    for label, content_type, body, _ in gen.multipart_cases("attachments", [("csrf_token", csrf)]):
        answer = await ask(
            site.plain,
            "POST",
            "/broadcasts/new",
            data=body,
            headers=as_admin | {"Content-Type": content_type},
        )
        tally.add(f"POST /broadcasts/new multipart {label}", answer)
    return tally


async def probe_login(site: Site, hasher: CountingHasher) -> Tally:
    """60 wrong guesses and the right password at once from one address, then the owner from
    another address; and 60 guesses that each claim another X-Forwarded-For."""
    from hub.access.auth import create_user
    from hub.web.dashboard.base import SESSION_COOKIE
    from models import UserRole
    from tests.factories import make_area
    from tests.test_permissions import A

    tally = Tally("5. Login")
    area = await make_area(A)
    await create_user("pemilik2", OWNER_PASSWORD, UserRole.STAFF, [area])
    for username, spoof, address in (
        ("pemilik", False, ATTACKER_ADDRESS),
        ("pemilik2", True, SPOOFER_ADDRESS),
    ):
        attacker = site.session_from(address)
        guesses = [f"tebakan-salah-{i:02d}" for i in range(60)] + [OWNER_PASSWORD]
        hasher.verified = 0
        answers = await asyncio.gather(
            *(
                login(attacker, username, guess, forwarded_for=f"10.9.0.{i + 1}" if spoof else None)
                for i, guess in enumerate(guesses)
            )
        )
        verified = hasher.verified
        for guess, answer in zip(guesses[:-1], answers[:-1], strict=True):
            tally.add(f"{username} wrong guess {guess}", answer, accepted=answer.status == 303)
        right = answers[-1]
        got_in = right.status == 303 and right.cookie(SESSION_COOKIE) is not None
        tally.add(f"{username} right password amid the guesses", right)
        how = " with a different X-Forwarded-For each" if spoof else ""
        tally.notes.append(
            f"{username}: 61 parallel attempts from {address}{how}: {verified} passwords "
            f"verified; answers {dict(sorted(Counter(a.status for a in answers).items()))}; "
            f"the right password {'got in' if got_in else f'was refused ({right.status})'}"
        )
    owner = site.session_from(OWNER_ADDRESS)
    answer = await login(owner, "pemilik", OWNER_PASSWORD)
    owner_in = answer.status == 303 and answer.cookie(SESSION_COOKIE) is not None
    tally.add(
        f"owner from {OWNER_ADDRESS} after the guesses",
        answer,
        lost=not owner_in,
        detail="" if owner_in else "the owner is locked out",
    )
    tally.notes.append(
        f"owner from {OWNER_ADDRESS}: {'logged in' if owner_in else 'REFUSED'} ({answer.status})"
    )
    return tally
