#!/bin/sh
# Start the agent on a balena device.
#
# The configuration file lives on the persistent volume. On first start it is
# written from the SIDELINE_AGENT_TOML device variable (the file that
# `sideline cloud device add` printed); afterwards single keys can still be
# overridden with SIDELINE_AGENT_<SECTION>__<KEY> variables.
set -eu
config=${SIDELINE_AGENT_CONFIG_FILE:-/var/lib/sideline/agent.toml}
if [ -n "${SIDELINE_AGENT_TOML:-}" ]; then
  umask 077
  printf '%s\n' "$SIDELINE_AGENT_TOML" > "$config.partial"
  mv "$config.partial" "$config"
fi
if [ ! -f "$config" ]; then
  echo "no agent configuration: set the SIDELINE_AGENT_TOML device variable to the file" \
       "printed by 'sideline cloud device add'" >&2
  sleep 60   # do not spin: balena restarts the service when it exits
  exit 1
fi
# Not a variable of the agent's own config tree: keep it out of its environment.
unset SIDELINE_AGENT_TOML SIDELINE_AGENT_CONFIG_FILE
/opt/sideline/venv/bin/sideline agent check --offline --config "$config"
exec /opt/sideline/venv/bin/sideline agent run --config "$config"
