"""Many runs at once, for the runs browser's plan tests and its benchmark."""

from __future__ import annotations

import uuid

from django.db import connection

from apps.runs.models import Run


def seed_runs(
    *,
    organization_id: uuid.UUID,
    flow_id: uuid.UUID | str,
    rows: int,
    start: int = 0,
    analyze: bool = True,
    first_id: int | None = None,
) -> None:
    """`rows` runs, one a second back from now, every 997th mentioning a rare word, with latencies
    spread over 0.2-3.2 s and times to first token over 40-940 ms. With `first_id`, the ids count
    up from it (the primary key grows at its end instead of a random page per row: faster for a
    million rows; callers keep their ranges apart); random otherwise."""
    ids = "gen_random_uuid()"
    if first_id is not None:
        ids = f"('00000000-0000-4000-8000-' || lpad(to_hex({int(first_id)} + i), 12, '0'))::uuid"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Run._meta.db_table} (id, organization_id, flow_id, source, status, inputs, output,
              output_text, error_code, error_message, failed_node, started_at, input_tokens, output_tokens, cost,
              usage, worker, last_seq, latency_ms, ttft_ms)
            SELECT {ids}, %s, %s, (ARRAY['playground','api','openai','widget'])[1 + i %% 4],
              CASE WHEN i %% 50 = 0 THEN 'failed' ELSE 'completed' END,
              jsonb_build_object('message',
                'question number ' || i || CASE WHEN i %% 997 = 0 THEN ' zebra' ELSE '' END),
              '{{}}', 'answer ' || i, CASE WHEN i %% 50 = 0 THEN 'model_timeout' ELSE '' END, '', '',
              now() - make_interval(secs => i), 10, 20, 0.001, '{{}}', '', 0,
              200 + (i::bigint * 7919) %% 3000, 40 + (i::bigint * 104729) %% 900
            FROM generate_series(%s, %s) AS i
            """,  # noqa: S608 - only the table name is formatted in
            [organization_id, flow_id, start, start + rows - 1],
        )
        if analyze:
            cursor.execute(f"ANALYZE {Run._meta.db_table}")
