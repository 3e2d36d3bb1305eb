#!/bin/sh
# Phorge's daemons in the foreground, so Docker watches them. `bin/phd start` launches the
# overseer (scripts/daemon/phd-daemon) with a JSON list of daemon pools on its stdin and asks
# it to fork into the background and log to a file; this gives the overseer the same kind of
# list (/etc/phorge/daemons.json, rendered by the recipe) without `daemonize` and `log`, so
# it stays in the foreground and logs to stderr. SIGTERM becomes SIGINT, the overseer's
# graceful stop (daemons finish their task); a second SIGTERM stops them at once.
set -u
root=/opt/phorge/phorge

# The configure hook creates Phorge's databases (`bin/storage upgrade`) once the web
# component is up; until then there is nothing to work on (and a stop ends the wait).
trap 'exit 0' TERM INT
until php /usr/local/lib/phorge/db-ready.php --schema; do
    echo "phorge-daemons: waiting for Phorge's databases (the configure hook creates them)" >&2
    sleep 10 &
    wait $!
done

cd "$root/scripts/daemon" || exit 1
if [ -e ./phd-daemon ]; then
    ./phd-daemon < /etc/phorge/daemons.json &
else
    php ./launch_daemon.php < /etc/phorge/daemons.json &
fi
overseer=$!

signals=0
on_signal() {
    signals=$((signals + 1))
    if [ "$signals" = 1 ]; then
        kill -INT "$overseer" 2>/dev/null || true
    else
        kill -TERM "$overseer" 2>/dev/null || true
    fi
}
trap on_signal TERM INT

status=0
while kill -0 "$overseer" 2>/dev/null; do
    wait "$overseer"
    status=$?
done
if [ "$signals" -gt 0 ]; then
    exit 0
fi
echo "phorge-daemons: the overseer exited with $status" >&2
exit "$status"
