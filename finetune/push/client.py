"""The wire of a fine-tuning API (:class:`~finetune.push.base.FineTuneApi`): upload a file, create a job, read
one or all jobs. A reply that is not 2xx raises :class:`VendorError` carrying the vendor's own message
(OpenAI/Zhipu ``error.message``, DashScope ``message``), with the key scrubbed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from balancer.secrets import Scrubber
from finetune.push.base import FineTuneApi


class VendorError(Exception):
    """The vendor refused a call; the message is the vendor's (no key in it)."""


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    state: str  # one of base.STATES, or "unknown"
    status: str  # the vendor's own word
    model: str
    trained_tokens: int | None
    fine_tuned_model: str | None
    error: str | None


@dataclass(slots=True)
class Session:
    """One vendor account: the API, its base URL and auth headers, and an HTTP session."""

    api: FineTuneApi
    base: str
    headers: dict[str, str]
    key: str
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        url = self.base.rstrip("/") + path
        try:
            async with self.http.request(method, url, headers=self.headers, **kw) as r:
                data = await r.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VendorError(f"{self.api.name}: cannot reach {url}: {type(exc).__name__} {exc}".strip()) from None
        scrubbed = Scrubber({self.key} if self.key else set())(data)
        if r.status >= 300:
            raise VendorError(f"{self.api.name} answered HTTP {r.status}: {_message(scrubbed)}")
        try:
            reply = msgspec.json.decode(scrubbed)
        except msgspec.DecodeError:
            raise VendorError(f"{self.api.name}: not JSON from {path}: {scrubbed[:200]!r}") from None
        if not isinstance(reply, dict):
            raise VendorError(f"{self.api.name}: unexpected reply from {path}")
        return reply

    async def upload(self, name: str, data: bytes) -> str:
        """Upload a training file; its id."""
        form = aiohttp.FormData()
        field = "files" if self.api.shape == "dashscope" else "file"
        form.add_field(field, data, filename=name, content_type="application/jsonl")
        form.add_field("purpose", "fine-tune")
        reply = await self.call("POST", self.api.files_path, data=form)
        if self.api.shape == "dashscope":
            files = reply.get("data") or {}
            uploaded, failed = files.get("uploaded_files") or [], files.get("failed_uploads") or []
            if not uploaded:
                why = "; ".join(f"{f.get('code')}: {f.get('message')}" for f in failed) or "no file id returned"
                raise VendorError(f"{self.api.name} refused the upload: {why}")
            return str(uploaded[0]["file_id"])
        return str(reply["id"])

    async def create(self, model: str, file_id: str, epochs: int | None, suffix: str | None) -> JobView:
        if self.api.shape == "dashscope":
            body: dict[str, Any] = {"model": model, "training_file_ids": [file_id], "training_type": "sft"}
            if epochs:
                body["hyper_parameters"] = {"n_epochs": epochs}
            if suffix:
                body["finetuned_output_suffix"] = suffix
        else:
            body = {"model": model, "training_file": file_id}
            if epochs:
                body["hyperparameters"] = {"n_epochs": epochs}
            if suffix:
                body["suffix"] = suffix
        return self.view(await self.call("POST", self.api.jobs_path, json=body))

    async def get(self, job_id: str) -> JobView:
        return self.view(await self.call("GET", f"{self.api.jobs_path}/{job_id}"))

    async def list(self) -> list[JobView]:
        reply = await self.call("GET", self.api.jobs_path)
        if self.api.shape == "dashscope":
            return [self._dashscope(j) for j in (reply.get("output") or {}).get("jobs") or []]
        return [self._openai(j) for j in reply.get("data") or []]

    def view(self, reply: dict[str, Any]) -> JobView:
        if self.api.shape == "dashscope":
            return self._dashscope(reply.get("output") or {})
        return self._openai(reply)

    def _openai(self, job: dict[str, Any]) -> JobView:
        status = str(job.get("status") or "")
        err = job.get("error") or None
        error = f"{err.get('code') or ''} {err.get('message') or ''}".strip() if isinstance(err, dict) else None
        return JobView(str(job.get("id")), self.api.state(status), status, str(job.get("model") or ""),
                       job.get("trained_tokens"), job.get("fine_tuned_model"), error or None)  # fmt: skip

    def _dashscope(self, job: dict[str, Any]) -> JobView:
        status = str(job.get("status") or "")
        error = job.get("message") if job.get("code") else None
        return JobView(str(job.get("job_id")), self.api.state(status), status, str(job.get("model") or ""),
                       job.get("usage"), job.get("finetuned_output"), error)  # fmt: skip


def _message(body: bytes) -> str:
    """The vendor's error message in any envelope we know, else the body's start."""
    try:
        reply = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:300].decode("utf-8", "replace")
    if isinstance(reply, dict):
        err = reply.get("error")
        if isinstance(err, dict) and err.get("message"):
            code = err.get("code")
            return f"{err['message']}" + (f" (code {code})" if code else "")
        if reply.get("message"):
            return f"{reply['message']}" + (f" (code {reply['code']})" if reply.get("code") else "")
    return body[:300].decode("utf-8", "replace")
