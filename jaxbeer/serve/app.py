"""The FastAPI app: server-rendered pages (Jinja2, autoescaped), a little JavaScript, a JSON API.

Pages post forms and redirect (post/redirect/get), so a reload never orders
again; the hidden week field makes a repeated post of the same form a no-op.
Seats and teacher dashboards are addressed by their tokens; any other token
gets 403.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

import jaxbeer
from jaxbeer.play import echelon_name
from jaxbeer.serve.engine import OrderError, SetupError, scenario_horizon
from jaxbeer.serve.service import LOG, Forbidden, Service

HERE = Path(__file__).resolve().parent
SEAT_COOKIE = "jaxbeer_seat"
TICK_SECONDS = 1.0
ROW_ID_MAX = 2**63 - 1  # SQLite's integers; a larger id in a URL is a 422, not an overflow
SETUP_FIELDS = ("scenario", "weeks", "co-players", "seat", "name", "class name", "team name", "teams", "time limit")


def error_field(message: str) -> str:
    """The form field a setup error belongs beside (its message starts with the field's name)."""
    return next((field for field in SETUP_FIELDS if message.startswith(field)), "")


def create_app(service: Service, tick_seconds: float = TICK_SECONDS) -> FastAPI:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals["echelon_name"] = echelon_name

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def tick():
            while True:  # the time limits: late seats are ordered for by the agents
                await asyncio.sleep(tick_seconds)
                try:
                    await asyncio.to_thread(service.advance_overdue)
                except Exception:  # the next tick tries again; the ticker itself never stops
                    LOG.exception("the time-limit tick failed")

        await asyncio.to_thread(service.advance_pending)  # weeks left due when the server stopped
        task = asyncio.create_task(tick())
        yield
        task.cancel()

    app = FastAPI(title="jaxbeer classroom", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, status_code=403)
        return templates.TemplateResponse(request, "error.html", {"message": str(error)}, status_code=403)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def home_context(request: Request) -> dict:
        names = jaxbeer.scenario_names()
        return {
            "scenarios": {name: scenario_horizon(name) for name in names},
            "co_players": service.catalog.co_players(),
            "echelons": [echelon_name(k) for k in range(4)],
            "resume": request.cookies.get(SEAT_COOKIE),
        }

    def seat_redirect(token: str) -> RedirectResponse:
        response = RedirectResponse(f"/seat/{token}", status_code=303)
        response.set_cookie(SEAT_COOKIE, token, httponly=True, samesite="lax", max_age=7 * 24 * 3600)
        return response

    # ------------------------------------------------------------ single player
    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        return page(request, "home.html", **home_context(request), form={}, error="", error_at="", error_form="")

    @app.post("/play")
    async def new_game(request: Request):
        form = dict(await request.form())
        try:
            token = await asyncio.to_thread(
                service.new_game, form.get("scenario"), form.get("weeks"), form.get("seat"), form.get("co_player"),
                form.get("name") or "you",
            )  # fmt: skip
        except SetupError as error:
            message = str(error)
            return page(request, "home.html", 400, **home_context(request), form=form, error=message,
                        error_at=error_field(message), error_form="single")  # fmt: skip
        return seat_redirect(token)

    def play_page(request: Request, token: str, status_code: int = 200, error: str = "", typed: str = ""):
        seat = service.seat_of(token)
        view = service.game_view(seat["game_id"], seat["seat"])
        return page(request, "play.html", status_code, token=token, view=view, error=error, typed=typed)

    @app.get("/seat/{token}", response_class=HTMLResponse)
    def play(request: Request, token: str):
        return play_page(request, token)

    @app.post("/seat/{token}/order")
    async def order(request: Request, token: str):
        form = dict(await request.form())
        try:
            await asyncio.to_thread(service.submit, token, form.get("week"), form.get("quantity"))
        except OrderError as error:
            return play_page(request, token, 400, str(error), str(form.get("quantity", ""))[:20])
        return RedirectResponse(f"/seat/{token}", status_code=303)

    @app.get("/seat/{token}/status")
    def seat_status(token: str):
        seat = service.seat_of(token)
        game = service.store.game(seat["game_id"])
        return {"week": game["week"], "status": game["status"]}

    @app.get("/seat/{token}/debrief", response_class=HTMLResponse)
    def debrief(request: Request, token: str):
        seat = service.seat_of(token)
        view = service.game_view(seat["game_id"], seat["seat"])
        return page(request, "debrief.html", token=token, view=view, debrief=service.debrief(seat["game_id"]))

    @app.get("/seat/{token}/game.csv")
    def game_csv(token: str):
        seat = service.seat_of(token)
        return csv_response(seat["game_id"])

    def csv_response(game_id: int) -> Response:
        headers = {"Content-Disposition": f'attachment; filename="beer-game-{game_id}.csv"'}
        return PlainTextResponse(service.csv_of(game_id), media_type="text/csv", headers=headers)

    # ------------------------------------------------------------ classroom
    @app.post("/class")
    async def new_class(request: Request):
        form = dict(await request.form())
        teams = [line.strip() for line in str(form.get("teams", "")).splitlines() if line.strip()]
        try:
            teacher, _ = await asyncio.to_thread(
                service.new_class, form.get("class_name"), form.get("scenario"), form.get("weeks"), teams,
                form.get("co_player"), form.get("week_seconds"),
            )  # fmt: skip
        except SetupError as error:
            message = str(error)
            return page(request, "home.html", 400, **home_context(request), form=form, error=message,
                        error_at=error_field(message), error_form="class")  # fmt: skip
        return RedirectResponse(f"/teacher/{teacher}", status_code=303)

    def no_class(request: Request, code: str, form: dict) -> HTMLResponse:
        return page(request, "join.html", 404, room=None, teams=[], code=code, error="No class has this code.",
                    error_at="code", form=form)  # fmt: skip

    @app.get("/join", response_class=HTMLResponse)
    def join_page(request: Request, code: str = ""):
        if not code:
            return page(request, "join.html", room=None, teams=[], code="", error="", error_at="", form={})
        try:
            room, teams = service.open_seats(code)
        except Forbidden:
            return no_class(request, code, {})
        return page(request, "join.html", room=room, teams=teams, code=room["code"], error="", error_at="", form={})

    @app.post("/join")
    async def join(request: Request):
        form = dict(await request.form())
        code = str(form.get("code", ""))
        game_id, _, seat = str(form.get("choice", "")).partition(":")  # the seat's radio button: "game:seat"
        try:
            token = await asyncio.to_thread(service.join, code, game_id, seat, form.get("name"))
        except SetupError as error:
            room, teams = service.open_seats(code)
            message = str(error)
            return page(request, "join.html", 400, room=room, teams=teams, code=room["code"], error=message,
                        error_at=error_field(message), form=form)  # fmt: skip
        except Forbidden:
            return no_class(request, code, form)
        return seat_redirect(token)

    @app.get("/teacher/{token}", response_class=HTMLResponse)
    def dashboard(request: Request, token: str):
        return page(request, "teacher.html", token=token, room=service.dashboard(token))

    @app.get("/teacher/{token}/teams", response_class=HTMLResponse)
    def dashboard_teams(request: Request, token: str):
        return page(request, "teams.html", token=token, room=service.dashboard(token))

    @app.post("/teacher/{token}/start")
    async def start(token: str):
        await asyncio.to_thread(service.start_class, token)
        return RedirectResponse(f"/teacher/{token}", status_code=303)

    @app.get("/teacher/{token}/games/{game_id}.csv")
    def teacher_csv(token: str, game_id: Annotated[int, PathParam(ge=1, le=ROW_ID_MAX)]):
        service.check_access(token, game_id)
        return csv_response(game_id)

    # ------------------------------------------------------------ JSON API
    @app.get("/api/games/{game_id}")
    def api_game(game_id: Annotated[int, PathParam(ge=1, le=ROW_ID_MAX)], x_token: str = Header("")):
        service.check_access(x_token, game_id)
        return service.game_view(game_id)

    @app.post("/api/games/{game_id}/seats/{seat}/orders")
    async def api_order(
        game_id: Annotated[int, PathParam(ge=1, le=ROW_ID_MAX)],
        seat: Annotated[int, PathParam(ge=0, le=ROW_ID_MAX)],
        request: Request,
        x_token: str = Header(""),
    ):
        service.check_access(x_token, game_id, seat)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object {week, quantity}"}, status_code=422)
        try:
            done = await asyncio.to_thread(service.submit, x_token, body.get("week"), body.get("quantity"))
        except OrderError as error:
            return JSONResponse({"error": str(error), "field": "quantity"}, status_code=422)
        return {"accepted": done.accepted, "week": done.week, "message": done.message}

    return app
