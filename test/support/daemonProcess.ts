import { runDaemon } from "../../daemon/daemon.js";

/**
 * A daemon in a process of its own, for tests that kill it: settings from
 * MAKIMA_TEST_WS_URL, MAKIMA_TEST_DAEMON_KEY, MAKIMA_TEST_ROOT; its log on stdout.
 */
const daemon = await runDaemon({
  wsUrl: process.env.MAKIMA_TEST_WS_URL!,
  daemonKey: process.env.MAKIMA_TEST_DAEMON_KEY!,
  root: process.env.MAKIMA_TEST_ROOT!,
  hostname: "child-daemon",
  log: (line) => console.log(line),
});
console.log(`ready ${daemon.daemonId}`);
process.on("SIGTERM", () => void daemon.stop().then(() => process.exit(0)));
