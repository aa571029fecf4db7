import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { signedIn, signIn, signOut, takeKeyFromLocation } from "./api.js";
import { Timeline } from "./Timeline.js";
import { TaskPage } from "./TaskPage.js";
import { ContractPage } from "./ContractPage.js";
import { CheckpointDiff } from "./CheckpointDiff.js";
import { Compare } from "./Compare.js";
import "./style.css";

takeKeyFromLocation();

/** `#/task/<id>` → ["task", "<id>"]: routes live in the fragment, so the static files serve every page. */
function useRoute(): string[] {
  const parse = () => location.hash.replace(/^#\/?/, "").split("?")[0]!.split("/").filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const onChange = () => {
      setRoute(parse());
      document.getElementById("main")?.focus();
    };
    addEventListener("hashchange", onChange);
    // The address may have changed between the first render and this effect, with no listener yet to hear it.
    const now = parse();
    setRoute((shown) => (shown.join("/") === now.join("/") ? shown : now));
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

function SignIn({ onDone }: { onDone: () => void }) {
  const [key, setKey] = useState("");
  return (
    <form
      class="card signin"
      onSubmit={(e) => {
        e.preventDefault();
        if (!key.trim()) return;
        signIn(key);
        onDone();
      }}
    >
      <h1>Sign in</h1>
      <p>Paste an API key (<code>mk_…</code>) or a token from your identity provider. It stays in this tab only.</p>
      <label for="key">API key or token</label>
      <input id="key" type="password" autocomplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
      <button type="submit">Sign in</button>
    </form>
  );
}

function Page({ route }: { route: string[] }) {
  const [kind, id, sub, cid] = route;
  if (kind === "task" && id && sub === "checkpoint" && cid) return <CheckpointDiff taskId={id} checkpointId={cid} />;
  if (kind === "task" && id) return <TaskPage key={id} taskId={id} />;
  if (kind === "contract" && id) return <ContractPage key={id} contractId={id} />;
  if (kind === "compare" && id && sub) return <Compare key={`${id}/${sub}`} left={id} right={sub} />;
  return <Timeline />;
}

function App() {
  const route = useRoute();
  const [, setTick] = useState(0);
  const authed = signedIn();
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          makima history
        </a>
        <nav aria-label="Main">
          <a href="#/">Timeline</a>
          {authed && (
            <button
              type="button"
              class="link"
              onClick={() => {
                signOut();
                setTick((t) => t + 1);
              }}
            >
              Sign out
            </button>
          )}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {authed ? <Page route={route} /> : <SignIn onDone={() => setTick((t) => t + 1)} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
