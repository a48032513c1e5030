"""Query fixer (slm): repair the last SQL from its sqlglot or database error. The grammar allows
every column of the linked tables (an unknown-column error often means linking dropped one).
Bound its attempts with ``max_visits`` on the node; ``on_limit`` says where to go next."""

from __future__ import annotations

from pydantic import Field

from slmgraph.agents.sql.common import Scope
from slmgraph.agents.sql.query_writer import PROMPT_VARS, WRITES, write_sql
from slmgraph.agents.sql.query_writer import Params as WriterParams
from slmgraph.agents.sql.researcher import history
from slmgraph.context import RunContext
from slmgraph.prompts import load_prompt
from slmgraph.registry import NodeEnv, NodeFn, State, Update, register_agent


class Params(WriterParams):
    prompt: str = "sql/fix"
    scope: Scope = Field("tables", description="Which identifiers the grammar allows")
    samples: int = Field(1, ge=1, le=1)


@register_agent(
    "sql.query_fixer",
    Params,
    reads=lambda p, b: ["question", "sql", "db"],
    writes=lambda p: WRITES,
    prompts=lambda p: {"prompt": p.prompt},
    prompt_vars=PROMPT_VARS,
    description="Repair SQL from its sqlglot/database error",
)
def query_fixer(env: NodeEnv) -> NodeFn:
    params: Params = env.params
    template = load_prompt(params.prompt, env.spec.base_dir)

    def run(state: State, ctx: RunContext) -> Update:
        error = state.get("check_error") or state.get("exec_error") or "the query is wrong"
        failed = {a.get("sql") for a in state.get("attempts") or [] if a.get("sql")}
        extra = {"error": error, "history": history(state)}
        update = write_sql(env, params, state, ctx, extra, template)
        if update["sql"] in failed:
            # Greedy decoding of a near-identical prompt repeats itself: sample instead.
            hotter = params.model_copy(update={"temperature": 0.7})
            retry = write_sql(env, hotter, state, ctx, extra, template)
            retry["attempts"] = update["attempts"] + retry["attempts"]
            update = retry
        return update

    return run
