"""Playing an incident: the sandbox, the real worker process, and people.

`incident-worker demo` plays one whole incident on a fresh sandbox and prints the card as a
person sees it. Nothing is special-cased for it: the worker is the real `python -m worker run`
process, the people act through py-trello over HTTP; only watching the card reads the
sandbox's state directly. The end-to-end tests build their stage on this one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TextIO, TypeVar

from pydantic import SecretStr
from trello import TrelloClient

from worker.mailbox import LocalInbox
from worker.report.draft import PICTURE_NAME, REPORT_NAME
from worker.runtime.worker import READY
from worker.sandbox import Sandbox, SandboxServer, render
from worker.sandbox.server import until_signalled
from worker.trello.client import Json
from worker.trello.session import Credentials, TrelloSession

T = TypeVar("T")

#: Short cadences, so a whole incident plays in seconds.
QUICK = {
    "INCIDENT_POLL_SECONDS": "0.5",
    "INCIDENT_RECONCILE_SECONDS": "5",
    "INCIDENT_REMINDER_SECONDS": "3",
    "INCIDENT_ROLE_REMINDER_SECONDS": "60",
    "INCIDENT_STATUS_UPDATE_SECONDS": "600",
    "INCIDENT_MEETING_URL": "https://meet.example.com/incident",
}


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class Person:
    """Someone on the board, acting through py-trello as Trello's own web app would."""

    def __init__(self, sandbox: Sandbox, url: str, name: str):
        member = sandbox.members[name]
        self.username = member.username
        self.session = TrelloSession(
            url, credentials=Credentials(SecretStr(sandbox.api_key), SecretStr(member.token))
        )
        self.client = TrelloClient(sandbox.api_key, api_secret="-", http_service=self.session)

    def _board(self, board_id: str) -> Any:
        return self.client.get_board(board_id)

    def create_card(self, board_id: str, title: str, list_name: str = "Doing") -> Any:
        board = self._board(board_id)
        (target,) = [item for item in board.list_lists() if item.name == list_name]
        return target.add_card(title)

    def label(self, card_id: str, name: str, *, remove: bool = False) -> None:
        card = self.client.get_card(card_id)
        (label,) = [item for item in card.board.get_labels() if item.name == name]
        if remove:
            card.remove_label(label)
        else:
            card.add_label(label)

    def comment(self, card_id: str, text: str) -> None:
        self.client.get_card(card_id).comment(text)

    def move(self, card_id: str, list_name: str) -> None:
        card = self.client.get_card(card_id)
        (target,) = [item for item in card.board.list_lists() if item.name == list_name]
        card.change_list(target.id)

    def archive(self, card_id: str) -> None:
        self.client.get_card(card_id).set_closed(True)

    def tick(self, card_id: str, starts_with: str, *, checked: bool = True) -> None:
        card = self.client.get_card(card_id)
        for checklist in card.checklists:
            for item in checklist.items:
                if item["name"].startswith(starts_with):
                    checklist.set_checklist_item(item["name"], checked)
                    return
        raise LookupError(f"no check item starting {starts_with!r} on card {card_id}")

    def delete_checklist(self, card_id: str, name: str) -> None:
        card = self.client.get_card(card_id)
        for checklist in card.checklists:
            if checklist.name == name:
                checklist.delete()
                return
        raise LookupError(f"no checklist {name!r} on card {card_id}")

    def close(self) -> None:
        self.session.close()


def read_log(path: Path) -> str:
    """The text a process has logged to `path` so far ("" before it has logged anything)."""
    return path.read_text(errors="replace") if path.exists() else ""


class Stage:
    """The sandbox served over HTTP, a work folder with the worker's database, the worker
    process, and the people on the board."""

    def __init__(self, sandbox: Sandbox, server: SandboxServer, folder: Path, env: dict[str, str]):
        self.sandbox = sandbox
        self.server = server
        self.folder = folder
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = folder / "worker.log"
        self._people: dict[str, Person] = {}
        self._launched: list[subprocess.Popen[bytes]] = []

    @classmethod
    @contextmanager
    def serving(cls, sandbox: Sandbox, settings: Mapping[str, str] = QUICK) -> Iterator[Self]:
        """`sandbox` served on a free port, a scratch work folder, and the settings that point a
        worker at them: the sandbox's own, then `settings`. Every process is stopped at the end.
        """
        with tempfile.TemporaryDirectory(prefix="incident-worker-") as scratch:
            folder = Path(scratch)
            with sandbox.serve() as server:
                env = {
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("TRELLO_", "INCIDENT_"))
                }
                for line in sandbox.settings_lines(server.url):
                    if line and not line.startswith("#"):
                        name, _, value = line.partition("=")
                        env[name] = value
                env["INCIDENT_DATABASE_URL"] = f"sqlite:///{folder / 'worker.sqlite3'}"
                env.update(settings)
                env.setdefault("PYTHONUNBUFFERED", "1")
                env.setdefault("PYTHONFAULTHANDLER", "1")  # a hung worker shows its threads
                # the worker process runs this very code, installed or not
                here = str(Path(__file__).resolve().parent.parent)
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
                current = cls(sandbox, server, folder, env)
                try:
                    yield current
                finally:
                    current.close()

    @property
    def board_ids(self) -> list[str]:
        return self.sandbox.board_ids

    def person(self, name: str) -> Person:
        if name not in self._people:
            self._people[name] = Person(self.sandbox, self.server.url, name)
        return self._people[name]

    # -- the worker process ----------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """The command line of `incident-worker *args`."""
        return [sys.executable, "-m", "worker", *args]

    def start_worker(self, *, wait: bool = True, options: Sequence[str] = ()) -> None:
        """Start `incident-worker [options] run` as a real process, logging to `log_path`.

        With `wait`, return once it has started and made its first pass (it is watching).
        """
        if self.worker_running:
            raise RuntimeError("the worker is already running")
        self.process = self.launch(self.log_path, options, wait=wait)

    @property
    def worker_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(
        self,
        log_path: Path,
        options: Sequence[str] = (),
        *,
        wait: bool = True,
        settings: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start one `incident-worker [options] run` process in the work folder, on the stage's
        settings with `settings` over them, its output appended to `log_path`; with `wait`,
        return once it has started and made its first pass over the boards. It is stopped,
        if still running, when the stage closes."""
        ready = read_log(log_path).count(READY)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                self.command(*options, "run"),
                env={**self.env, **(settings or {})},
                stdout=log,
                stderr=log,
                cwd=self.folder,
            )
        self._launched.append(process)
        if wait:  # started, and its first pass over the boards is done
            wait_for(lambda: read_log(log_path).count(READY) > ready, "the worker to start", 60)
        return process

    def stop_worker(self, how: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the worker and wait for it to exit; its exit code."""
        if self.process is None:
            raise RuntimeError("the worker is not running")
        self.process.send_signal(how)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:  # say where it hangs: every thread's stack, then
            self.process.send_signal(signal.SIGABRT)  # (PYTHONFAULTHANDLER) the log's end
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            tail = "\n".join(read_log(self.log_path).splitlines()[-80:])
            raise RuntimeError(
                f"the worker did not stop within {timeout:.0f} s of {how.name}; its log ends:\n"
                f"{tail}"
            ) from None
        self.process = None
        return code

    # -- reading the card back -------------------------------------------------------------
    # Straight from the sandbox's state, rendered as Trello's JSON: watching costs no requests,
    # so it never eats into the rate limits or shows in the request log.

    def card(self, card_id: str) -> Json:
        state = self.sandbox.state
        with state.lock:
            record = state.card(card_id)
            found = render.card(record, state)
            found["checklists"] = [render.checklist(c) for c in state.card_checklists(record)]
        return found

    def comments(self, card_id: str) -> list[Json]:
        """The card's comments, oldest first."""
        state = self.sandbox.state
        with state.lock:
            record = state.card(card_id)
            found = [render.action(a, state) for a in state.card_actions(record.id)]
        comments = [a for a in found if a["type"] == "commentCard"]
        return sorted(comments, key=lambda a: (a["date"], a["id"]))

    def lists(self, board_id: str) -> dict[str, str]:
        state = self.sandbox.state
        with state.lock:
            return {item.id: item.name for item in state.board_lists(board_id)}

    def attachments(self, card_id: str) -> dict[str, str]:
        """The card's attachments: name -> id."""
        state = self.sandbox.state
        with state.lock:
            card = state.card(card_id)
            return {state.attachments[a].name: a for a in card.attachment_ids}

    def drafted(self, card_id: str) -> dict[str, str] | None:
        """The card's attachments once the post-mortem draft (both files) is among them."""
        found = self.attachments(card_id)
        return found if {REPORT_NAME, PICTURE_NAME} <= set(found) else None

    def attachment_bytes(self, attachment_id: str) -> bytes:
        return self.sandbox.state.attachments[attachment_id].content or b""

    def worker_comments(self, card_id: str) -> list[str]:
        worker = self.sandbox.members["worker"].id
        return [c["data"]["text"] for c in self.comments(card_id) if c["idMemberCreator"] == worker]

    def wait_for_comment(self, card_id: str, fragment: str, timeout: float = 20.0) -> str:
        def find() -> str | None:
            return next((t for t in self.worker_comments(card_id) if fragment in t), None)

        return wait_for(find, f"a worker comment containing {fragment!r}", timeout)

    def add_item(self, card_id: str, checklist: str, text: str, *, by: str) -> None:
        """`by` adds an item to the card's checklist named `checklist`."""
        card = self.person(by).client.get_card(card_id)
        (found,) = [c for c in card.checklists if c.name == checklist]
        found.add_checklist_item(text)

    def followups(self, board_id: str) -> list[str]:
        """The names of the cards in the board's Follow-ups list."""
        state = self.sandbox.state
        with state.lock:
            lists = {x.id for x in state.board_lists(board_id) if x.name == "Follow-ups"}
            return [c.name for c in state.board_cards(board_id) if c.list_id in lists]

    def render(self, card_id: str) -> str:
        """The card as a person sees it: name, list, labels, description, checklists, comments."""
        card = self.card(card_id)
        lists = self.lists(card["idBoard"])
        labels = ", ".join(label["name"] for label in card.get("labels", []))
        due = f"  due: {card['due'][:16].replace('T', ' ')} UTC" if card.get("due") else ""
        lines = [
            f"┌─ {card['name']}  [{lists.get(card['idList'], '?')}]  labels: {labels or '-'}{due}",
            "│",
        ]
        lines += [f"│ {line}" for line in card.get("desc", "").splitlines()]
        for checklist in card.get("checklists", []):
            lines += ["│", f"│ ☑ {checklist['name']}"]
            for item in checklist.get("checkItems", []):
                box = "[x]" if item.get("state") == "complete" else "[ ]"
                lines.append(f"│   {box} {item['name']}")
        lines += ["│", "│ Comments, oldest first:"]
        for comment in self.comments(card_id):
            when = datetime.fromisoformat(comment["date"].replace("Z", "+00:00"))
            who = comment.get("memberCreator", {}).get("username", "?")
            text = comment["data"]["text"].splitlines() or [""]
            lines.append(f"│ {when:%H:%M:%S} @{who}: {text[0]}")
            lines += [f"│            {line}" for line in text[1:]]
        lines.append("└─")
        return "\n".join(lines)

    def close(self) -> None:
        for process in self._launched:
            if process.poll() is None:
                process.kill()
                process.wait()
        for person in self._people.values():
            person.close()


def play(out: TextIO, *, keep: bool = False) -> None:
    """One whole incident, start to finish, on a fresh sandbox; with `keep`, the sandbox and
    a worker then run on until Ctrl-C or SIGTERM, for a look around its board page."""

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    inbox = LocalInbox()
    channels = {"support": [inbox.channel("support@example.com")]}
    settings = {**QUICK, "INCIDENT_CHANNELS": json.dumps(channels)}
    with inbox, Stage.serving(Sandbox.seeded(), settings) as scene:
        board = scene.board_ids[0]
        alice, bob, carol, dave = (scene.person(n) for n in ("alice", "bob", "carol", "dave"))
        say(f"Sandbox serving Trello's API at {scene.server.url}; starting the worker.")
        say(f"Watch the board as it happens, and act on it as its people: {scene.server.page_url}")
        scene.start_worker()

        card = alice.create_card(board, "Checkout is down")
        alice.label(card.id, "Incident")
        say("@alice put the Incident label on 'Checkout is down'.")
        scene.wait_for_comment(card.id, "Incident declared")
        say("  the worker added the checklists and the header, and asked for the first message.")

        alice.comment(card.id, "/communicator @bob\n/delvers @carol\n/quickfixers @dave")
        scene.wait_for_comment(card.id, "Noted")
        say("@alice named the communicator (@bob), a delver and a quickfixer.")

        alice.comment(card.id, "/sev 2")
        scene.wait_for_comment(card.id, "**Severity 2 (major)**")
        say("@alice set the severity to 2 (major); the header shows it.")

        scene.wait_for_comment(card.id, "Reminder 1")
        say("  the first message was not sent yet, so the worker reminded @bob, with the")
        say("  messages for each audience ready to copy.")
        bob.comment(card.id, "/tell all")
        scene.wait_for_comment(card.id, "**Told**")
        say("@bob sent them and said `/tell all`: the worker ticked the items for him, and")
        mail = wait_for(lambda: next(iter(inbox.mails), None), "the support team's e-mail")
        say(f"  e-mailed the support team (a local SMTP server, port {inbox.port}, got it):")
        say(f"    To: {', '.join(mail.to)}  Subject: {mail.subject}")
        for line in mail.body.strip().splitlines():
            say(f"    | {line}")

        carol.comment(card.id, "/update Payments fail at the provider; next in 20m")
        wait_for(lambda: "Latest update" in scene.card(card.id)["desc"], "the update")
        say("@carol posted a status update, promising the next in 20 minutes (in the header).")

        dave.comment(card.id, "/workaround Payments go through the backup provider")
        scene.wait_for_comment(card.id, "Workaround in place")
        bob.tick(card.id, "Consider communicating: When there is some workaround")
        say("@dave found a workaround; the worker asked @bob to tell everyone, and he did.")

        carol.label(card.id, "Resolved")
        scene.wait_for_comment(card.id, "**Resolved**")
        wait_for(
            lambda: any(c["name"] == "Post mortem" for c in scene.card(card.id)["checklists"]),
            "the post mortem checklist",
        )
        bob.tick(card.id, "Consider communicating: When the problems are resolved")
        say("@carol fixed the cause and labelled the card Resolved; @bob sent the last message.")

        files = wait_for(lambda: scene.drafted(card.id), "the post-mortem draft")
        say("  the worker added the post mortem checklists, set the post-mortem due date and")
        say(f"  attached the draft ({REPORT_NAME}, {PICTURE_NAME}).")

        scene.add_item(card.id, "Follow-ups", "Alert before the disk fills up @dave", by="carol")
        made = wait_for(
            lambda: [n for n in scene.followups(board) if n.startswith("Alert")] or None,
            "the follow-up card",
            timeout=30,
        )
        say("@carol added a follow-up for @dave at the post-mortem meeting: the worker made it")
        say(f"  a card of its own in the Follow-ups list (“{made[0]}”), @dave on it, due in")
        say("  ten business days, linked both ways; it outlives the incident card.")

        code = scene.stop_worker()
        requests = scene.sandbox.request_log
        by_worker = sum(1 for r in requests if r.member_username == "incident-worker")
        say(f"The worker stopped on SIGTERM (exit code {code}).")
        say(f"It made {by_worker} requests to Trello in all.\n")
        say(scene.render(card.id))
        draft = scene.attachment_bytes(files[REPORT_NAME]).decode()
        say(f"\nThe attached {REPORT_NAME}, written from the card's history:\n")
        say(draft)
        if keep:
            with until_signalled() as stop:
                scene.start_worker()
                say(f"\nThe board stays open at {scene.server.page_url} with the worker running:")
                say("act on it as alice, bob, carol or dave. Press Ctrl-C to stop.")
                stop.wait()
            scene.stop_worker()
