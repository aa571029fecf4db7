import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "./api.js";
import type { DiffStats, FileDiffInfo } from "./types.js";

interface Diff {
  commitSha: string;
  previousSha?: string;
  files: FileDiffInfo[];
  stats: DiffStats;
}

/** Files shown at once; more on request, so a diff of thousands of files stays quick. */
const FILES_PER_PAGE = 25;
/** A file with more changed lines than this is drawn when opened. */
const OPEN_LINES = 400;

function FileDiff({ file, sideBySide }: { file: FileDiffInfo; sideBySide: boolean }) {
  const lines = file.additions + file.deletions;
  const [open, setOpen] = useState(lines <= OPEN_LINES);
  const target = useRef<HTMLDivElement>(null);
  useEffect(() => {
    // The diff renderer and its highlighter load with the first diff drawn, not with the viewer.
    if (open && target.current) {
      const into = target.current;
      void import("./diffView.js").then(({ drawDiff }) => drawDiff(into, file, sideBySide));
    }
  }, [open, sideBySide, file]);
  return (
    <section class="file" aria-label={`Diff of ${file.path}`}>
      <h3>
        <code>{file.oldPath && file.oldPath !== file.path ? `${file.oldPath} → ${file.path}` : file.path}</code> <span class="badge">{file.action}</span>{" "}
        <span class="add">+{file.additions}</span> <span class="del">−{file.deletions}</span>
      </h3>
      {open ? (
        <div class="d2h" ref={target} />
      ) : (
        <button type="button" onClick={() => setOpen(true)}>
          Show this diff ({lines.toLocaleString()} lines)
        </button>
      )}
    </section>
  );
}

/** A checkpoint's code diff, from the task's daemon: files changed, unified or side by side, highlighted, paged. */
export function CheckpointDiff({ taskId, checkpointId }: { taskId: string; checkpointId: string }) {
  const [diff, setDiff] = useState<Diff | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [sideBySide, setSideBySide] = useState(false);
  const [shown, setShown] = useState(FILES_PER_PAGE);
  useEffect(() => {
    document.title = "Checkpoint diff — makima history";
    get<Diff>(`/api/v1/mesh/tasks/${taskId}/checkpoints/${checkpointId}/diff`).then(setDiff, (e: Error) => setError(e.message));
  }, [taskId, checkpointId]);
  return (
    <div>
      <p>
        <a href={`#/task/${taskId}`}>← Back to the task</a>
      </p>
      <h1>Checkpoint diff</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {!diff && !error && <p aria-busy="true">Asking the task's daemon for the diff…</p>}
      {diff && <DiffBody diff={diff} sideBySide={sideBySide} setSideBySide={setSideBySide} shown={shown} setShown={setShown} />}
    </div>
  );
}

export function DiffFiles({ files, sideBySide, shown, setShown }: { files: FileDiffInfo[]; sideBySide: boolean; shown: number; setShown: (n: number) => void }) {
  return (
    <>
      <nav aria-label="Files changed">
        <ul class="files">
          {files.map((f, i) => (
            <li key={f.path}>
              <code>{f.path}</code> <span class="add">+{f.additions}</span> <span class="del">−{f.deletions}</span>
              {i >= shown && " (not shown yet)"}
            </li>
          ))}
        </ul>
      </nav>
      {files.slice(0, shown).map((f) => (
        <FileDiff key={`${f.path}:${sideBySide}`} file={f} sideBySide={sideBySide} />
      ))}
      {files.length > shown && (
        <button type="button" onClick={() => setShown(shown + FILES_PER_PAGE)}>
          Show {Math.min(FILES_PER_PAGE, files.length - shown)} more files
        </button>
      )}
    </>
  );
}

function DiffBody({ diff, sideBySide, setSideBySide, shown, setShown }: { diff: Diff; sideBySide: boolean; setSideBySide: (v: boolean) => void; shown: number; setShown: (n: number) => void }) {
  return (
    <>
      <p>
        <code>{diff.previousSha?.slice(0, 7) ?? "(parent)"}</code> → <code>{diff.commitSha.slice(0, 7)}</code>: {diff.stats.filesChanged} files,{" "}
        <span class="add">+{diff.stats.insertions}</span> <span class="del">−{diff.stats.deletions}</span>
      </p>
      <fieldset class="toggle">
        <legend>Layout</legend>
        <label class="radio">
          <input type="radio" name="layout" checked={!sideBySide} onChange={() => setSideBySide(false)} /> Unified
        </label>
        <label class="radio">
          <input type="radio" name="layout" checked={sideBySide} onChange={() => setSideBySide(true)} /> Side by side
        </label>
      </fieldset>
      <DiffFiles files={diff.files} sideBySide={sideBySide} shown={shown} setShown={setShown} />
    </>
  );
}
