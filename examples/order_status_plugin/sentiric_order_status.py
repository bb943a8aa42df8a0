"""An example task plug-in: "where is my order?", answered from the shop's own HTTP API.

What a plug-in declares, and what the daemon does with it at start-up:
  * the entry point `check_order_status` (pyproject.toml) names the intent and this class;
  * `examples`: how callers ask for it, per language; the NLU recognises the intent from these;
  * `slots`: what it needs; "digits" means it can be said ("four five one two") or typed on the keypad
    when the agent asks for it (`expects="order_number"`).

The API is `GET {SENTIRIC_ORDERS_URL}/orders/<number>` → 200 `{"status": "shipped", "eta": "Friday"}`, or 404.
The task keeps nothing on `self`: the order number it is waiting for lives in `ctx.call.task_state`.
"""

from __future__ import annotations

import os
from typing import ClassVar

import httpx

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult

ORDERS_URL = "SENTIRIC_ORDERS_URL"
"""The order API's base URL (environment), e.g. http://127.0.0.1:8085."""
TIMEOUT_S = 2.0
"""The caller is waiting: a slower API gets "I can't reach the order system" instead."""

STATUS_WORDS = {
    "processing": "is being prepared",
    "shipped": "has shipped",
    "delivered": "has been delivered",
    "cancelled": "was cancelled",
}


def spoken_number(number: str) -> str:
    """Digit by digit ("4 5 1 2"): a reference is read out, not counted ("four thousand …")."""
    return " ".join(number)


class OrderStatusTask:
    examples: ClassVar[dict[str, list[str]]] = {
        "en": [
            "where is my order",
            "what is the status of my order",
            "has my order shipped",
            "I want to check my order",
            "when will my order arrive",
            "track my order",
            "order status",
        ],
        "tr": ["siparişim nerede", "siparişimin durumu ne", "siparişim kargoya verildi mi"],
    }
    slots: ClassVar[dict[str, str]] = {"order_number": "digits"}

    async def execute(self, ctx: TaskContext) -> TaskResult:
        number = ctx.turn.entities.get("order_number") or ctx.call.task_state.get("order_number")
        if not number:
            return TaskResult(
                "ask",
                "What is your order number? You can say it or type it on your keypad.",
                expects="order_number",
            )
        ctx.call.task_state["order_number"] = number
        base = os.environ.get(ORDERS_URL, "http://127.0.0.1:8085").rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                response = await client.get(f"{base}/orders/{number}")
        except httpx.HTTPError:
            return TaskResult("failed", "Sorry, I can't reach the order system right now.", facts={"error": "api"})
        said = spoken_number(number)
        if response.status_code == 404:
            ctx.call.task_state.pop("order_number", None)
            return TaskResult(
                "ask",
                f"I can't find order {said}. Could you give me the number again?",
                facts={"order": {"number": number, "found": False}},
                expects="order_number",
            )
        if response.status_code != 200:
            return TaskResult("failed", "Sorry, I can't reach the order system right now.", facts={"error": "api"})
        order = response.json()
        status = STATUS_WORDS.get(str(order.get("status")), f"is {order.get('status')}")
        sentence = f"Order {said} {status}."
        if order.get("eta"):
            sentence += f" It should arrive on {order['eta']}."
        facts = {"order": {"number": number, "status": order.get("status"), "spoken": said}}
        return TaskResult("done", sentence, facts=facts)
