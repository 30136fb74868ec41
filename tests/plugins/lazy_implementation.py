"""The echo implementation of test_registry's 'lazy' optimizer: it must not be imported before a model loads with it."""

from trio_core.generation import RequestHook, request_hooks


class Count(RequestHook):
    def before_generate(self, model, request):
        visual = request.inputs["visual_tokens"]
        request.stats.visual_token_steps.append(("lazy", visual, visual))


def apply(model, settings):
    request_hooks(model, "lazy").append(Count())
