"""The app's error contract: a request it refuses gets one sentence, the same on the page, for ``gradio_client``
(an ``AppError`` with that message) and over raw HTTP (the ``process_completed`` message's ``output.error``, or a
4xx/503 ``detail``), and the log gets one line, never a traceback.

Gradio words some refusals itself, before any handler runs, in terms of its own machinery: a pydantic model, a
temporary path, ``Value 0 is less than minimum value 1``, or nothing at all. The pieces below put the app's words
there instead. docs/errors.md lists every refusal; ``tests/test_app_errors.py`` checks each row both ways.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, TypeVar

import gradio as gr
from gradio import blocks, queueing
from gradio.exceptions import InvalidPathError

from siamese.models import CheckpointError
from siamese.transforms import ImageInputError, image_file_error
from siamese.utils import one_line

log = logging.getLogger("siamese.app")

# What the service raises for a visitor's mistake; anything else is a bug, and Gradio logs it with its traceback.
USER_ERRORS = (ImageInputError, ValueError, CheckpointError)
IMAGE_FORM = ('{"path": PATH, "meta": {"_type": "gradio.FileData"}}, PATH being what /gradio_api/upload returned '
              "(with gradio_client: handle_file('image.png'))")  # fmt: skip
NOT_UPLOADED = ("A file must be uploaded before it is sent: POST it to /gradio_api/upload and send the path that "
                "returns (gradio_client's handle_file does both).")  # fmt: skip
QUEUE_FULL = "The app is busy: its queue is full. Try again in a few seconds."

Handler = TypeVar("Handler", bound=Callable[..., Any])


def refusal(message: str) -> gr.Error:
    """The error that refuses a request with ``message``, logged as one line (Gradio prints no traceback for it)."""
    log.info("refused a request: %s", one_line(message, limit=300))
    return gr.Error(message, print_exception=False)


def in_words(handler: Handler) -> Handler:
    """``handler``, with a visitor's mistake (:data:`USER_ERRORS`) refused in the service's own sentence."""

    @functools.wraps(handler)  # keeps the docstring and signature Gradio shows in the API page
    def refusing(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise  # already refused and logged (a handler within a handler): a second line would repeat it
        except USER_ERRORS as error:
            raise refusal(str(error)) from None

    return refusing  # type: ignore[return-value]


def explained(component: gr.components.Component, form: str) -> gr.components.Component:
    """``component`` (an image input), refusing what it cannot turn into an image in words.

    Gradio turns a payload into a value before any handler runs: first the component's data model checks its form,
    then the component decodes the file. A payload of the wrong form (a string where a file is expected) is refused
    with ``form``; a file that does not decode with the words of :func:`image_file_error`, as the package's own
    ``open_image`` words it. Decoding happens here once, inside the queue's concurrency limit (no validator decodes
    it a second time before the queue).
    """
    convert = component.preprocess

    def preprocess(payload):
        try:
            return convert(payload)
        except Exception as error:  # noqa: BLE001 - PIL raises many kinds of error for bad files; Gradio refuses SVG
            raise refusal(str(image_file_error(error))) from None

    component.preprocess = preprocess
    model = getattr(component, "data_model", None)
    if isinstance(model, type) and hasattr(model, "model_validate"):

        class Checked(model):  # the same model, with its refusal in words
            @classmethod
            def model_validate(cls, obj, *args, **kwargs):
                try:
                    return model.model_validate(obj, *args, **kwargs)
                except Exception:  # noqa: BLE001 - pydantic's ValidationError, or a TypeError
                    raise refusal(form) from None

        Checked.__name__ = model.__name__
        component.data_model = Checked
    return component


def unchecked(component: gr.components.Component) -> gr.components.Component:
    """``component`` handing its payload on as it came, for the handler to check and word.

    A Slider's and a Radio's own checks refuse ``top_k=0`` or an unknown domain in Gradio's words
    (``Value: 'Cats' (type: <class 'str'>) is not in the list of choices: [...]``), with a traceback in the log;
    the service checks the same values and names what to send instead.
    """
    component.preprocess = lambda payload: payload
    return component


def install_error_contract() -> None:
    """Word the two refusals Gradio makes outside any component (idempotent, process-wide, as Gradio's queue is).

    - A file value naming a server path instead of an upload: Gradio's ``InvalidPathError`` reaches the sender as
      ``error: null`` and the log as a traceback; it becomes :data:`NOT_UPLOADED`.
    - A full queue: Gradio's 503 detail ``Queue is full. Max size is 64 and size is 64.`` becomes
      :data:`QUEUE_FULL`, logged. (``gradio_client`` raises its own ``QueueError`` for any 503, whatever it says.)
    """
    if getattr(blocks.Blocks.preprocess_data, "refuses_server_paths", False):
        return
    preprocess_data, push = blocks.Blocks.preprocess_data, queueing.Queue.push

    async def preprocess_refusing_server_paths(self, *args, **kwargs):
        try:
            return await preprocess_data(self, *args, **kwargs)
        except InvalidPathError:
            raise refusal(NOT_UPLOADED) from None

    async def push_refusing_in_words(self, *args, **kwargs):
        success, detail, state = await push(self, *args, **kwargs)
        if state == "queue_full":
            refusal(QUEUE_FULL)  # logs it; Gradio's route sends the detail as a 503
            detail = QUEUE_FULL
        return success, detail, state

    preprocess_refusing_server_paths.refuses_server_paths = True  # type: ignore[attr-defined]
    blocks.Blocks.preprocess_data = preprocess_refusing_server_paths
    queueing.Queue.push = push_refusing_in_words
