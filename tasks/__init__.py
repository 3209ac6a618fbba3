"""How each step is done: pure functions plus thin Prefect tasks."""
