from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "apps.evaluation"
    label = "evaluation"
    verbose_name = "Evaluation: datasets, evaluators, evaluation runs and publish gates"

    def ready(self) -> None:
        # Lower layers expose registries; this app plugs into them (they never import it).
        from apps.builder.publish_checks import publish_check_register
        from apps.evaluation import consumers
        from apps.evaluation.gate import publish_check
        from apps.evaluation.runner import PromptTargetHook
        from apps.runs.socket_handlers import socket_handler_register
        from apps.runs.start import HOOKS

        publish_check_register(publish_check)
        if not any(isinstance(hook, PromptTargetHook) for hook in HOOKS):
            HOOKS.append(PromptTargetHook())  # after guardrails: the prompt replaced is the target's
        socket_handler_register(consumers.MESSAGE_TYPES, consumers.handle)
        from apps.evaluation.knowledge_questions import knowledge_questions
        from apps.knowledge.evaluation import question_set_register

        question_set_register(knowledge_questions)  # datasets as a knowledge base's test questions
