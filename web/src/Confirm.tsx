import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

export interface ConfirmProps {
  title: string;
  /** What will change, read before anything runs; a rejection is shown and blocks confirming. */
  preview: () => Promise<ComponentChildren>;
  /** Runs the action once; its answer in words. */
  run: () => Promise<ComponentChildren>;
  confirmLabel: string;
  onClose: () => void;
  /** Inputs that change the preview (it is read again when they do). */
  deps?: unknown[];
  children?: ComponentChildren;
}

/** An action in three steps: what it will do (preview), confirm, then its result or its error in words. */
export function Confirm({ title, preview, run, confirmLabel, onClose, deps = [], children }: ConfirmProps) {
  const [shown, setShown] = useState<ComponentChildren>(null);
  const [state, setState] = useState<"previewing" | "ready" | "blocked" | "running" | "done" | "failed">("previewing");
  const [outcome, setOutcome] = useState<ComponentChildren>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    let current = true;
    setState("previewing");
    preview().then(
      (p) => current && (setShown(p), setState("ready")),
      (e: Error) => current && (setShown(<p class="error">{e.message}</p>), setState("blocked")),
    );
    return () => {
      current = false;
    };
  }, deps);
  const confirm = async () => {
    setState("running");
    try {
      setOutcome(await run());
      setState("done");
    } catch (e) {
      setOutcome((e as Error).message);
      setState("failed");
    }
  };
  return (
    <section class="confirm card" aria-labelledby="confirm-h">
      <h3 id="confirm-h" tabIndex={-1} ref={heading}>
        {title}
      </h3>
      {children}
      <div class="preview" aria-live="polite" aria-busy={state === "previewing"}>
        <h4>What will change</h4>
        {state === "previewing" ? <p>Reading what would change…</p> : shown}
      </div>
      {state === "done" && (
        <div role="status" class="ok">
          {outcome}
        </div>
      )}
      {state === "failed" && (
        <p role="alert" class="error">
          {outcome}
        </p>
      )}
      <div class="buttons">
        {state !== "done" && (
          <button type="button" class="primary" disabled={state !== "ready" && state !== "failed"} onClick={confirm}>
            {state === "running" ? "Working…" : confirmLabel}
          </button>
        )}
        <button type="button" onClick={onClose}>
          {state === "done" ? "Close" : "Cancel"}
        </button>
      </div>
    </section>
  );
}
