"""The web app: FastAPI routes and server-rendered pages over one ``Marketplace``.

:func:`create_app` is the composition root. It builds one
:class:`~gigmarket.Marketplace` (on a SQLite file, the sandbox gateway and the
Fiverr-like policy), the jobs that cron would run, and the routes. Every route
is a plain ``def``: gigmarket blocks (the database, a call to the gateway), so
FastAPI runs each in its thread pool, and the SQLite storage gives every thread
its own connection.

In *demo mode* (``demo=True``) the app runs on a manual clock and shows a
toolbar that moves time forward and runs the jobs at once, so that a class (or
a browser test) can watch an order auto-complete and earnings clear without
waiting days. Never enable it in production.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from gigmarket import (
    Amount,
    Clock,
    GigmarketError,
    ManualClock,
    Marketplace,
    NotFound,
    SystemClock,
    ValidationError,
)
from gigmarket.cashier import OperationKind, OperationStatus, PaymentOperation
from gigmarket.catalog import CreateAccount, CreateGig, SearchQuery, SetUpProfile
from gigmarket.errors import PaymentError, WebhookVerificationFailed
from gigmarket.gateways import SandboxGateway
from gigmarket.orders import Actor, Order, OrderState

from gigmarket_web import session
from gigmarket_web.jobs import EventLog, Jobs, Ticker
from gigmarket_web.ledger_view import read_t_accounts

__all__ = ["create_app"]

_log = logging.getLogger("gigmarket_web")
_HERE = Path(__file__).parent
MAX_WEBHOOK_BODY = 1024 * 1024
SANDBOX_CARDS = (
    ("tok_visa", "Visa ending 4242 (succeeds)"),
    ("tok_requires_action", "Visa ending 3155 (asks for 3-D Secure)"),
    ("tok_decline_insufficient_funds", "Visa ending 9995 (declined: insufficient funds)"),
)
SANDBOX_BANKS = (
    ("bank_ok", "Sandbox Bank, account 000123456789 (pays)"),
    ("bank_fails", "Closed Bank, account 000111111116 (payouts bounce)"),
)


class SignInRequired(Exception):
    """Raised by :func:`_user` for a page that needs someone signed in."""


# --8<-- [start:dependencies]
def _signed_in(request: Request) -> str:
    """The signed-in account's id, for a page that needs one."""
    account_id: str | None = request.app.state.current_user(request)
    if account_id is None:
        raise SignInRequired
    return account_id


async def _form_fields(request: Request) -> dict[str, str]:
    """A form whose fields are not known in advance (a row per package, an
    answer per question), read on the event loop; the route runs in a thread."""
    return {key: str(value) for key, value in (await request.form()).items()}


async def _raw_body(request: Request) -> bytes:
    """The request body byte for byte, as the webhook signature covers it."""
    return await request.body()


# Module-level, so that FastAPI can resolve them from the routes' annotations.
User = Annotated[str, Depends(_signed_in)]
Fields = Annotated[dict[str, str], Depends(_form_fields)]
RawBody = Annotated[bytes, Depends(_raw_body)]
# --8<-- [end:dependencies]


def create_app(
    *,
    database: str | os.PathLike[str] | None = None,
    market: Marketplace | None = None,
    clock: Clock | None = None,
    base_url: str | None = None,
    secret: str | None = None,
    demo: bool = False,
    tick_every: float | None = 5.0,
) -> FastAPI:
    """Build the app.

    ``database`` is the SQLite file (default: ``$GIGMARKET_WEB_DB`` or
    ``gigmarket-web.db``); pass ``market`` instead to bring a marketplace built
    elsewhere (PostgreSQL, a real gateway). ``clock`` defaults to the system
    clock, or to a manual one in ``demo`` mode (which adds the time-travel
    toolbar). ``base_url`` is where the app is reachable (the sandbox's webhooks
    are POSTed to ``{base_url}/webhooks/gateway``). ``secret`` signs the
    session cookie. ``tick_every`` runs the jobs on a background thread every so
    many seconds; ``None`` leaves them to cron or to the demo toolbar.
    """
    # --8<-- [start:build]
    if market is None:
        if clock is None:
            clock = ManualClock(datetime.now(UTC)) if demo else SystemClock()
        path = database or os.environ.get("GIGMARKET_WEB_DB", "gigmarket-web.db")
        market = Marketplace.at(path, clock=clock)
    base = (base_url or os.environ.get("GIGMARKET_WEB_URL", "http://127.0.0.1:8000")).rstrip("/")
    secret = secret or os.environ.get("GIGMARKET_WEB_SECRET")
    if secret is None:
        if not demo:
            raise ValueError("set GIGMARKET_WEB_SECRET (or pass secret=) to sign sessions")
        secret = secrets.token_hex(16)
    events = EventLog()
    jobs = Jobs(market, webhook_url=f"{base}/webhooks/gateway", events=events)
    ticker = Ticker(jobs, every=tick_every) if tick_every else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if ticker is not None:
            ticker.start()
        yield
        if ticker is not None:
            ticker.stop()

    # --8<-- [end:build]

    app = FastAPI(title="gigmarket web", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.market = market
    app.state.jobs = jobs
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    templates = Jinja2Templates(directory=_HERE / "templates")
    _install_routes(app, market, jobs, events, templates, secret=secret, demo=demo)
    return app


def _install_routes(  # noqa: PLR0915 -- one place that lists every page
    app: FastAPI,
    market: Marketplace,
    jobs: Jobs,
    events: EventLog,
    templates: Jinja2Templates,
    *,
    secret: str,
    demo: bool,
) -> None:
    sandbox = market.gateway if isinstance(market.gateway, SandboxGateway) else None

    def name_of(account_id: str) -> str:
        try:
            return "@" + market.catalog.account(account_id).username
        except NotFound:
            return account_id

    templates.env.globals.update(
        name_of=name_of, demo=demo, auto_complete_days=market.policy.auto_complete_after.days
    )

    def current_user(request: Request) -> str | None:
        account_id = session.unsign(secret, request.cookies.get(session.COOKIE))
        if account_id is None:
            return None
        try:
            return market.catalog.account(account_id).id
        except NotFound:
            return None

    app.state.current_user = current_user

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        me = current_user(request)
        context.update(me=me, me_name=name_of(me) if me else None, now=market.clock.now())
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def go(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def signed_in(url: str, account_id: str) -> RedirectResponse:
        answer = go(url)
        answer.set_cookie(
            session.COOKIE, session.sign(secret, account_id), httponly=True, samesite="lax"
        )
        return answer

    @app.exception_handler(SignInRequired)
    def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return go(f"/login?next={request.url.path}")

    @app.exception_handler(GigmarketError)
    def _refused(request: Request, exc: GigmarketError) -> Response:
        status = (
            404 if isinstance(exc, NotFound) else 422 if isinstance(exc, ValidationError) else 409
        )
        problems = exc.errors if isinstance(exc, ValidationError) else ()
        return page(
            request,
            "error.html",
            status,
            message=str(exc),
            problems=problems,
            kind=type(exc).__name__,
        )

    # -- accounts -------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        hits = market.catalog.search(SearchQuery(limit=12)).hits
        return page(request, "home.html", hits=hits)

    @app.get("/signup", response_class=HTMLResponse)
    def signup_form(request: Request) -> HTMLResponse:
        return page(request, "signup.html")

    @app.post("/signup")
    def signup(username: Annotated[str, Form()]) -> Response:
        account = market.catalog.create_account(CreateAccount(username=username))
        return signed_in("/", account.id)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return page(request, "login.html", next=_local(next))

    @app.post("/login")
    def login(username: Annotated[str, Form()], next: Annotated[str, Form()] = "/") -> Response:
        with market.catalog.transaction() as tx:
            account = tx.uow.catalog.find_account_by_username(username.strip().lower())
        if account is None:
            raise NotFound(f"no account is called {username!r}: sign up first")
        return signed_in(_local(next), account.id)

    @app.post("/logout")
    def logout() -> Response:
        answer = go("/")
        answer.delete_cookie(session.COOKIE)
        return answer

    @app.get("/profile", response_class=HTMLResponse)
    def profile_form(request: Request, me: User) -> HTMLResponse:
        return page(request, "profile.html", profile=market.catalog.profile(me))

    @app.post("/profile")
    def profile(
        *,
        me: User,
        display_name: Annotated[str, Form()],
        headline: Annotated[str, Form()],
        description: Annotated[str, Form()],
        skills: Annotated[str, Form()],
        language: Annotated[str, Form()],
        country: Annotated[str, Form()],
    ) -> Response:
        command = SetUpProfile.model_validate(
            {
                "display_name": display_name,
                "headline": headline,
                "description": description,
                "skills": [s.strip() for s in skills.split(",") if s.strip()],
                "languages": [{"language": language, "level": "native"}],
                "country": country,
            }
        )
        market.catalog.set_up_profile(me, command)
        return go("/gigs/new")

    # -- gigs -----------------------------------------------------------------

    @app.get("/gigs/new", response_class=HTMLResponse)
    def new_gig_form(request: Request, me: User) -> HTMLResponse:
        return page(request, "gig_new.html")

    @app.post("/gigs/new")
    def new_gig(me: User, form: Fields) -> Response:
        packages = [
            {
                "name": tier,
                "price": form[f"{tier.lower()}_price"],
                "delivery_days": _whole(form, f"{tier.lower()}_days"),
                "revisions": _whole(form, f"{tier.lower()}_revisions"),
            }
            for tier in ("Basic", "Standard", "Premium")
            if form.get(f"{tier.lower()}_price")
        ]
        command = CreateGig.model_validate(
            {
                "title": form["title"],
                "category": form["category"],
                "subcategory": form["subcategory"],
                "currency": form["currency"],
                "tags": [t.strip() for t in form.get("tags", "").split(",") if t.strip()],
                "description": form["description"],
                "packages": packages,
                "gallery": [form["gallery"]] if form.get("gallery") else [],
                "requirements": [{"text": form["question"], "kind": "free_text"}]
                if form.get("question")
                else [],
            }
        )
        gig = market.catalog.create_gig(me, command)
        return go(f"/gigs/{gig.id}")

    @app.get("/gigs/{gig_id}", response_class=HTMLResponse)
    def gig_page(request: Request, gig_id: str) -> HTMLResponse:
        gig = market.catalog.gig(gig_id)
        return page(
            request,
            "gig.html",
            gig=gig,
            version=market.catalog.gig_version(gig_id),
            profile=market.catalog.profile(gig.seller_id),
            rating=market.catalog.gig_rating(gig_id),
        )

    @app.post("/gigs/{gig_id}/publish")
    def publish(gig_id: str, me: User) -> Response:
        market.catalog.publish(gig_id, seller_id=me)
        return go(f"/gigs/{gig_id}")

    @app.post("/gigs/{gig_id}/order")
    def order_gig(gig_id: str, me: User, package: Annotated[str, Form()]) -> Response:
        order = market.checkout(gig_id, buyer_id=me, package=package)
        return go(f"/orders/{order.id}")

    @app.get("/search", response_class=HTMLResponse)
    def search(request: Request, q: str = "") -> HTMLResponse:
        query = SearchQuery(text=q) if q.strip() else SearchQuery()
        return page(request, "search.html", q=q, hits=market.catalog.search(query).hits)

    # -- orders ---------------------------------------------------------------

    def my_orders(me: str) -> Iterator[tuple[str, Order]]:
        # The order desk has no "orders of this account" query yet; the storage
        # port lists every order, which is fine for a reference app.
        with market.storage() as uow:
            everything: list[Order] = list(uow.orders.orders())
        for order in sorted(everything, key=lambda o: o.placed_at, reverse=True):
            if me in (order.buyer_id, order.seller_id):
                yield ("buying" if order.buyer_id == me else "selling"), order

    @app.get("/orders", response_class=HTMLResponse)
    def orders(request: Request, me: User) -> HTMLResponse:
        return page(request, "orders.html", orders=list(my_orders(me)))

    def order_for(order_id: str, me: str) -> Order:
        order = market.orders.get(order_id)
        if me not in (order.buyer_id, order.seller_id):
            raise NotFound(f"order {order_id} is not yours")
        return order

    def latest_payment(order_id: str) -> PaymentOperation | None:
        payments = [
            op for op in market.cashier.operations(order_id) if op.kind is OperationKind.PAYMENT
        ]
        return payments[-1] if payments else None

    @app.get("/orders/{order_id}", response_class=HTMLResponse)
    def order_page(request: Request, order_id: str, me: User) -> HTMLResponse:
        order = order_for(order_id, me)
        payment = latest_payment(order.id)
        waiting = (
            order.state is OrderState.PENDING_PAYMENT
            and payment is not None
            and payment.status is OperationStatus.PENDING
        )
        reviews = market.orders.reviews(order.id, include_hidden=True)
        return page(
            request,
            "order.html",
            order=order,
            role="buyer" if order.buyer_id == me else "seller",
            payment=payment,
            waiting=waiting,
            cards=SANDBOX_CARDS if sandbox is not None else (),
            reviewed={review.author_id for review in reviews},
            reviews=[review for review in reviews if review.published_at is not None],
            States=OrderState,
        )

    # --8<-- [start:pay]
    @app.post("/orders/{order_id}/pay")
    def pay(order_id: str, me: User, card: Annotated[str, Form()]) -> Response:
        result = market.pay(order_id, buyer_id=me, source=card)
        if result.action_url is not None and result.charge is not None:
            if sandbox is not None:  # the sandbox's bank is played by this app
                return go(f"/sandbox/authenticate/{result.charge.id}?order={order_id}")
            return go(result.action_url)  # a real provider's 3-D Secure page
        return go(f"/orders/{order_id}")

    # --8<-- [end:pay]

    @app.post("/orders/{order_id}/requirements")
    def requirements(order_id: str, me: User, form: Fields) -> Response:
        order = order_for(order_id, me)
        answers = {q.id: form.get(q.id, "") for q in order.offer.questions}
        market.orders.submit_requirements(order_id, buyer_id=me, answers=answers)
        return go(f"/orders/{order_id}")

    @app.post("/orders/{order_id}/deliver")
    def deliver(order_id: str, me: User) -> Response:
        market.orders.deliver(order_id, seller_id=me)
        return go(f"/orders/{order_id}")

    @app.post("/orders/{order_id}/revision")
    def revision(order_id: str, me: User) -> Response:
        market.orders.request_revision(order_id, buyer_id=me)
        return go(f"/orders/{order_id}")

    @app.post("/orders/{order_id}/accept")
    def accept(order_id: str, me: User) -> Response:
        market.orders.accept(order_id, buyer_id=me)
        return go(f"/orders/{order_id}")

    @app.post("/orders/{order_id}/review")
    def review(
        order_id: str,
        me: User,
        rating: Annotated[int, Form()],
        text: Annotated[str, Form()] = "",
    ) -> Response:
        order = order_for(order_id, me)
        by = Actor.BUYER if order.buyer_id == me else Actor.SELLER
        market.orders.review(order_id, by=by, account_id=me, rating=rating, text=text)
        return go(f"/orders/{order_id}")

    # -- the sandbox's bank: the 3-D Secure challenge -----------------------------

    @app.get("/sandbox/authenticate/{charge_id}", response_class=HTMLResponse)
    def bank_challenge(request: Request, charge_id: str, order: str = "") -> HTMLResponse:
        if sandbox is None:
            raise NotFound("this marketplace's gateway is not the sandbox")
        charge = sandbox.get_charge(charge_id)
        return page(request, "bank.html", charge=charge, order_id=order)

    # --8<-- [start:bank]
    @app.post("/sandbox/authenticate/{charge_id}")
    def bank_answer(
        charge_id: str,
        outcome: Annotated[str, Form()],
        order: Annotated[str, Form()] = "",
    ) -> Response:
        if sandbox is None:
            raise NotFound("this marketplace's gateway is not the sandbox")
        sandbox.complete_action(charge_id, succeed=outcome == "authenticate")
        # The bank hands the buyer back; the charge's outcome reaches the books
        # through the gateway's webhook (the jobs' next tick), not this redirect.
        return go(f"/orders/{order}" if order else "/orders")

    # --8<-- [end:bank]

    # -- the gateway's webhook ------------------------------------------------------

    # --8<-- [start:webhook]
    @app.post("/webhooks/gateway")
    def webhook(request: Request, body: RawBody) -> Response:
        if len(body) > MAX_WEBHOOK_BODY:
            return Response("too large", status_code=413)
        try:
            outcome = market.handle_webhook(body, dict(request.headers))
        except WebhookVerificationFailed as error:
            _log.warning("refused a webhook: %s", error.reason)
            return Response(error.reason, status_code=400)
        except PaymentError:  # genuine, but the gateway cannot be asked now
            return Response("try again later", status_code=503)
        return Response("duplicate" if outcome.duplicate else "ok", status_code=200)

    # --8<-- [end:webhook]

    # -- earnings and withdrawals -------------------------------------------------

    def currencies_of(me: str) -> list[str]:
        found = {
            market.catalog.gig_version(gig.id).content.currency
            for gig in market.catalog.gigs_of_seller(me)
        }
        return sorted(found) or ["USD"]

    @app.get("/earnings", response_class=HTMLResponse)
    def earnings(request: Request, me: User) -> HTMLResponse:
        balances = {c: market.seller_balance(me, c) for c in currencies_of(me)}
        payees = {c: market.cashier.payee_of(me, c) for c in balances}
        withdrawals = [
            op for op in market.cashier.operations(me) if op.kind is OperationKind.PAYOUT
        ]
        return page(
            request,
            "earnings.html",
            balances=balances,
            payees=payees,
            withdrawals=list(reversed(withdrawals)),
            banks=SANDBOX_BANKS if sandbox is not None else (),
        )

    @app.post("/earnings/bank")
    def add_bank(
        me: User, currency: Annotated[str, Form()], bank_token: Annotated[str, Form()]
    ) -> Response:
        market.add_payout_account(me, currency, bank_token=bank_token)
        return go("/earnings")

    @app.post("/earnings/withdraw")
    def withdraw(
        me: User, currency: Annotated[str, Form()], amount: Annotated[str, Form()]
    ) -> Response:
        market.withdraw(me, Amount.of(amount.strip(), currency))
        return go("/earnings")

    # -- for teachers and operators ---------------------------------------------------

    @app.get("/escrow", response_class=HTMLResponse)
    def escrow(request: Request) -> HTMLResponse:
        accounts = read_t_accounts(market, name_of=name_of)
        totals: dict[str, Amount] = {}
        for account in accounts:
            zero = Amount.zero(account.currency)
            totals[account.currency] = totals.get(account.currency, zero) + account.balance
        return page(request, "escrow.html", accounts=accounts, totals=totals)

    @app.get("/events", response_class=HTMLResponse)
    def events_page(request: Request) -> HTMLResponse:
        return page(request, "events.html", events=events.recent())

    # -- demo mode: time travel -------------------------------------------------------

    if not demo:
        return

    @app.post("/demo/tick")
    def tick(back: Annotated[str, Form()] = "/") -> Response:
        jobs.tick()
        return go(_local(back))

    # --8<-- [start:advance]
    @app.post("/demo/advance")
    def advance(hours: Annotated[int, Form()], back: Annotated[str, Form()] = "/") -> Response:
        clock = market.clock
        if not isinstance(clock, ManualClock):
            raise ValidationError("time travel needs the app built on a ManualClock")
        clock.advance(timedelta(hours=hours))
        jobs.tick()  # what cron would have done meanwhile
        return go(_local(back))

    # --8<-- [end:advance]


def _whole(form: dict[str, str], field: str) -> int:
    """A whole number from a form field (empty is 0), or gigmarket's ValidationError."""
    text = form.get(field, "").strip() or "0"
    if not text.isdigit():
        raise ValidationError(f"{text!r} is not a whole number", field=field)
    return int(text)


def _local(url: str) -> str:
    """``url`` if it is a path on this site, else ``/`` (no open redirects)."""
    return url if url.startswith("/") and not url.startswith("//") else "/"
