// matdiff's page: asks the JSON API (/api/variables, /api/diff) and renders the answer with KaTeX.
//
// Kinds: a kind the user chose in a selector (or that an example or a shared link set) is "explicit" and
// is sent with every request; each time the page reads a new expression, explicit kinds of names that are
// no longer in it are forgotten, and every other name gets the kind the server infers.
// The state (expression, explicit kinds, wrt, order, layout, code backend) is kept in the URL's query
// (history.replaceState), and a URL with an expression restores it and differentiates.
// The exported code comes with the derivative (the request's "code" is the chosen backend); choosing
// another backend asks /api/diff again for the derivative shown, without its steps and check.
"use strict";

(function () {
  const KINDS = ["scalar", "vector", "matrix", "symmetric"];
  const DEFAULTS = { order: "1", layout: "gradient", code: "numpy" };
  const $ = (id) => document.getElementById(id);
  const state = {
    variables: {}, // the variables shown, with their kinds
    chosen: {}, // the kinds set explicitly, by name
    wrt: null, // the variable to differentiate by that a link or an example asked for
    last: null, stepsOpen: true, seq: 0,
    request: null, code: null, codeSeq: 0, // the request of the derivative shown, its code, the code's requests
  };

  /** The text as typed, with runs of whitespace collapsed to one space and the ends stripped. */
  function normalise(text) {
    return String(text).replace(/\s+/g, " ").trim();
  }

  function tex(latex, element, display) {
    try {
      katex.render(latex, element, { displayMode: display, throwOnError: false, strict: "ignore" });
    } catch (e) {
      element.textContent = latex;
    }
  }

  // Horizontal scrolling: a .scroller wraps a .scroll container; its classes say whether more lies to the
  // left or right, and the CSS fades that edge, so a long formula is never cut silently.
  function updateScroller(scroll) {
    const wrapper = scroll.parentElement;
    if (!wrapper || !wrapper.classList.contains("scroller")) return;
    const more = scroll.scrollWidth - scroll.clientWidth;
    wrapper.classList.toggle("more-left", more > 1 && scroll.scrollLeft > 1);
    wrapper.classList.toggle("more-right", more > 1 && scroll.scrollLeft < more - 1);
  }

  function watchScroll(scroll) {
    if (scroll.dataset.watched) return;
    scroll.dataset.watched = "true";
    scroll.addEventListener("scroll", () => updateScroller(scroll), { passive: true });
    if (window.ResizeObserver) new ResizeObserver(() => updateScroller(scroll)).observe(scroll);
  }

  /** `element` inside a horizontal scroll container with edge fades; returns the wrapper. */
  function scrollable(element) {
    const wrapper = document.createElement("div");
    wrapper.className = "scroller";
    element.classList.add("scroll");
    wrapper.append(element);
    watchScroll(element);
    return wrapper;
  }

  function updateScrollers() {
    document.querySelectorAll(".scroll").forEach(updateScroller);
  }

  /** JSON.parse, keeping a seed beyond 2^53 (the check's are 63 bits) exact, as a string. */
  function parseJson(text) {
    let lossy = false;
    const data = JSON.parse(text, function (key, value, context) {
      if (key !== "seed" || typeof value !== "number" || Number.isSafeInteger(value)) return value;
      if (context && typeof context.source === "string") return context.source; // the source text, exact
      lossy = true;
      return value;
    });
    // browsers without the reviver's source text: the seed from the text (an answer has one at most)
    const seed = lossy && data && data.check ? /"seed":\s*(\d+)/.exec(text) : null;
    if (seed) data.check.seed = seed[1];
    return data;
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      return { ok: false, data: { error: "the server cannot be reached: is `matdiff serve` still running?" } };
    }
    let data;
    try {
      data = parseJson(await response.text());
    } catch (e) {
      data = { error: `the server answered ${response.status} without JSON` };
    }
    return { ok: response.ok, data };
  }

  function showError(data) {
    const message = String((data && data.error) || "something went wrong");
    const [first, ...rest] = message.split("\n");
    $("error-message").textContent = first;
    const caret = $("error-caret");
    caret.textContent = rest.join("\n");
    caret.closest(".scroller").hidden = rest.length === 0;
    $("error").hidden = false;
    updateScroller(caret);
  }

  function clearError() {
    $("error").hidden = true;
  }

  // Variables ------------------------------------------------------------------------------------------

  /** Forget the explicit kinds of names that are not among `variables` (the new expression's). */
  function pruneChosen(variables) {
    for (const name of Object.keys(state.chosen)) if (!(name in variables)) delete state.chosen[name];
  }

  function renderVariables(variables) {
    state.variables = variables;
    const box = $("variables");
    box.replaceChildren();
    box.classList.remove("failed");
    const names = Object.keys(variables);
    if (names.length === 0) {
      const empty = document.createElement("span");
      empty.className = "empty";
      empty.textContent = "none: the expression is a constant";
      box.append(empty);
    }
    for (const name of names) {
      const explicit = name in state.chosen;
      const chip = document.createElement("span");
      chip.className = explicit ? "var set" : "var";
      chip.dataset.variable = name;
      const label = document.createElement("label");
      label.className = "name";
      label.textContent = name;
      const select = document.createElement("select");
      select.id = `kind-${name}`;
      label.htmlFor = select.id;
      select.dataset.variable = name;
      select.setAttribute("aria-label", `kind of ${name}`);
      select.title = explicit ? "set by you" : "inferred from the name";
      for (const kind of KINDS) select.append(new Option(kind, kind, false, kind === variables[name]));
      select.addEventListener("change", () => {
        state.chosen[name] = select.value;
        syncUrl();
        refreshVariables();
      });
      chip.append(label, select);
      if (explicit) {
        const reset = document.createElement("button");
        reset.type = "button";
        reset.className = "reset";
        reset.textContent = "×";
        reset.title = "back to the inferred kind";
        reset.setAttribute("aria-label", `reset the kind of ${name}`);
        reset.addEventListener("click", () => {
          delete state.chosen[name];
          syncUrl();
          refreshVariables();
        });
        chip.append(reset);
      }
      box.append(chip);
    }
    const wrt = $("wrt");
    const previous = state.wrt || wrt.value;
    wrt.replaceChildren(...names.map((name) => new Option(name, name)));
    if (names.includes(previous)) wrt.value = previous;
    else if (names.length) wrt.value = pickDefault(names, variables);
    state.wrt = null;
  }

  /** The panel after an error: no variables (the previous expression's would mislead), and a way back. */
  function clearVariables(why) {
    state.variables = {};
    const box = $("variables");
    box.replaceChildren();
    box.classList.add("failed");
    const empty = document.createElement("span");
    empty.className = "empty";
    empty.textContent = why;
    box.append(empty);
    if (Object.keys(state.chosen).length) {
      // an explicit kind may be what makes the expression fail: offer to drop them all
      const reset = document.createElement("button");
      reset.type = "button";
      reset.className = "ghost small";
      reset.id = "reset-kinds";
      reset.textContent = "Reset kinds";
      reset.addEventListener("click", () => {
        state.chosen = {};
        syncUrl();
        refreshVariables();
      });
      box.append(reset);
    }
    $("wrt").replaceChildren();
  }

  function pickDefault(names, variables) {
    // the lecture's habit: differentiate by the matrix, else the vector, else the first name
    return names.find((n) => variables[n] === "matrix" || variables[n] === "symmetric") ||
      names.find((n) => variables[n] === "vector") || names[0];
  }

  function kinds() {
    return { ...state.chosen }; // the server ignores names that are not in the expression
  }

  /** Ask the server for the expression's variables and show them; `initial`: the page's first look at
   * its default expression, which leaves the URL as it is (a page nobody has touched has no query). */
  async function refreshVariables(initial = false) {
    const expression = $("expression").value;
    const seq = ++state.seq;
    if (!expression.trim()) {
      state.chosen = {}; // a new expression starts from nothing
      renderVariables({});
      syncUrl();
      return;
    }
    const { ok, data } = await post("/api/variables", { expression, kinds: kinds() });
    if (seq !== state.seq) return; // a newer request is on its way
    if (ok) {
      clearError();
      pruneChosen(data.variables);
      renderVariables(data.variables);
      if (initial !== true) syncUrl();
    } else {
      clearVariables("none shown: the expression has an error (Differentiate says which)");
    }
  }

  let timer = null;
  function scheduleVariables() {
    clearTimeout(timer);
    timer = setTimeout(() => refreshVariables(), 250);
  }

  // The result -----------------------------------------------------------------------------------------

  function renderSteps(data) {
    const list = $("steps");
    list.replaceChildren();
    // data.steps: {title, steps: [...], ..., error}; without steps, error says why
    if (!data.steps || !data.steps.steps) {
      const item = document.createElement("li");
      item.textContent = (data.steps && data.steps.error) || "no steps for this derivative";
      list.append(item);
      return;
    }
    for (const step of data.steps.steps) {
      const item = document.createElement("li");
      const head = document.createElement("div");
      const rule = document.createElement("span");
      rule.className = "rule";
      rule.textContent = step.rule;
      const identity = document.createElement("code");
      identity.className = "identity";
      identity.textContent = step.identity;
      head.append(rule, identity);
      const math = document.createElement("div");
      math.className = "step-math";
      tex(step.latex.replace(/^&\\text\{[^}]*\}\\colon\\;\s*/, "").replace(/^&/, ""), math, true);
      item.append(head, scrollable(math));
      list.append(item);
    }
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "—";
    return digits ? Number(value).toExponential(digits) : String(Number(Number(value).toPrecision(12)));
  }

  function checkRow(field, heading, value, note) {
    const row = document.createElement("tr");
    row.dataset.field = field;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = heading;
    const td = document.createElement("td");
    const main = document.createElement("span");
    main.className = "value";
    main.textContent = value;
    td.append(main);
    if (note) {
      const small = document.createElement("span");
      small.className = "note";
      small.textContent = note;
      td.append(small);
    }
    row.append(th, td);
    return row;
  }

  function renderCheck(check) {
    const badge = $("check-badge");
    const table = $("check-table");
    const body = table.tBodies[0];
    body.replaceChildren();
    $("check-text").textContent = check ? check.text : "";
    if (!check) {
      badge.className = "badge none";
      badge.textContent = "OFF";
      table.hidden = true;
      $("check-none").hidden = true;
      $("check-report").hidden = true;
      return;
    }
    const verdict = check.passed === true ? "PASS" : check.passed === false ? "FAIL" : "N/A";
    badge.className = "badge " + (check.passed === true ? "pass" : check.passed === false ? "fail" : "none");
    badge.textContent = verdict;
    $("check-report").hidden = false;
    if (check.passed === null) { // md.check could not run: its text says why
      table.hidden = true;
      $("check-none").hidden = false;
      $("check-none").textContent = check.text;
      return;
    }
    $("check-none").hidden = true;
    table.hidden = false;
    const index = check.worst_index && check.worst_index.length ? `[${check.worst_index.join(", ")}]` : "the value";
    const worst = checkRow("worst", "Worst entry", index);
    const pair = document.createElement("span");
    pair.className = "pair";
    for (const [part, value] of [["symbolic", check.worst_symbolic], ["numeric", check.worst_numeric]]) {
      const item = document.createElement("span");
      const code = document.createElement("code");
      code.className = part;
      code.textContent = number(value);
      item.append(`${part} `, code);
      pair.append(item);
    }
    worst.cells[1].append(pair);
    body.append(
      checkRow("passed", "Verdict", verdict),
      checkRow("max_rel_error", "Max relative error", number(check.max_rel_error, 2)),
      checkRow("tolerance", "Tolerance", number(check.tolerance, 2), check.reason),
      worst,
      checkRow("evaluations", "Evaluations", String(check.evaluations)),
      checkRow("seed", "Seed", String(check.seed)),
    );
  }

  function renderCode(data) {
    // data.code: the module's source; null with data.code_error where it could not be written
    const pre = $("code");
    pre.removeAttribute("aria-busy");
    const ok = typeof data.code === "string";
    state.code = ok ? data.code : null;
    pre.classList.toggle("failed", !ok);
    pre.textContent = ok ? data.code : `no code: ${data.code_error || data.error || "none was written"}`;
    pre.scrollTop = 0;
    pre.scrollLeft = 0;
    updateScroller(pre);
    $("copy-code").disabled = !ok;
  }

  async function changeBackend() {
    syncUrl();
    const request = state.request; // the derivative shown
    if (!request) return; // nothing differentiated yet: the next result brings the code
    const seq = ++state.codeSeq;
    $("code").setAttribute("aria-busy", "true");
    const body = { ...request, steps: false, check: false, code: $("code-backend").value };
    const { ok, data } = await post("/api/diff", body);
    if (seq !== state.codeSeq || request !== state.request) return; // another backend or derivative came since
    renderCode(ok ? data : { code: null, code_error: data.error });
  }

  function renderResult(data, typed) {
    state.last = data;
    // the input as typed (whitespace normalised), not matdiff's rewritten print of it
    $("result-input").textContent = normalise(typeof data.input === "string" ? data.input : typed);
    const by = data.wrt.map((name) => `\\partial ${name}`).join("\\, ");
    const order = data.wrt.length;
    const head = order === 1 ? `\\frac{\\partial f}{${by}}` : `\\frac{\\partial^{${order}} f}{${by}}`;
    const math = $("math");
    if (data.latex.length > 20000) {
      math.textContent = "(too large to typeset: see the text form below)";
    } else {
      tex(`${head} = ${data.latex}`, math, true);
    }
    $("shape").textContent = data.shape_text;
    $("result-variables").textContent = Object.entries(data.variables).map(([n, k]) => `${n} ${k}`).join(", ");
    $("derivative-text").textContent = data.derivative;
    // a 3-D or 4-D derivative in index notation: its Kronecker form, where it has one
    $("kronecker").hidden = !data.kronecker;
    if (data.kronecker) {
      tex(data.kronecker.latex, $("kronecker-math"), true);
      $("kronecker-text").textContent = data.kronecker.text;
    }
    // a term written more than once is named first (t0 = ...), as MatrixCalculus.org does
    $("shared").hidden = !data.shared;
    if (data.shared) {
      tex(data.shared.latex, $("shared-math"), true);
      $("shared-text").textContent = data.shared.text;
    }
    renderSteps(data);
    renderCheck(data.check);
    renderCode(data);
    $("result").hidden = false;
    updateScrollers();
  }

  async function differentiate(event) {
    if (event) event.preventDefault();
    clearTimeout(timer);
    const button = $("go");
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    const seq = ++state.seq; // a variables answer on its way is for an older text
    try {
      const wrt = state.wrt || $("wrt").value;
      const body = {
        expression: $("expression").value,
        kinds: kinds(),
        wrt: wrt ? [wrt] : [],
        order: Number($("order").value),
        layout: $("layout").value,
        code: $("code-backend").value,
      };
      const { ok, data } = await post("/api/diff", body);
      if (seq !== state.seq) return; // the expression changed meanwhile
      if (ok) {
        clearError();
        state.request = body;
        state.codeSeq++; // code still on its way is for the derivative shown before
        pruneChosen(data.variables);
        renderVariables(data.variables);
        syncUrl();
        renderResult(data, body.expression);
        if (body.code !== $("code-backend").value) changeBackend(); // the backend changed meanwhile
      } else {
        state.request = null;
        state.wrt = null;
        $("result").hidden = true;
        clearVariables("none shown: the expression has an error (above)");
        showError(data);
      }
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

  // The URL --------------------------------------------------------------------------------------------

  /** The page's state as a query string: expr, kinds (name:kind,...), wrt, order, layout, code; defaults left out. */
  function stateQuery() {
    const expression = $("expression").value;
    if (!expression.trim()) return "";
    // encodeURIComponent, but ":" and "," (allowed in a query) stay readable; "+" and spaces are escaped
    const encode = (value) => encodeURIComponent(value).replace(/%3A/gi, ":").replace(/%2C/gi, ",");
    const params = [["expr", expression]];
    const chosen = Object.entries(state.chosen).map(([name, kind]) => `${name}:${kind}`);
    if (chosen.length) params.push(["kinds", chosen.join(",")]);
    const wrt = state.wrt || $("wrt").value;
    if (wrt) params.push(["wrt", wrt]);
    for (const [field, id] of [["order", "order"], ["layout", "layout"], ["code", "code-backend"]]) {
      if ($(id).value !== DEFAULTS[field]) params.push([field, $(id).value]);
    }
    return params.map(([key, value]) => `${key}=${encode(value)}`).join("&");
  }

  function syncUrl() {
    const query = stateQuery();
    const url = location.pathname + (query ? "?" + query : "") + location.hash;
    if (url !== location.pathname + location.search + location.hash) history.replaceState(null, "", url);
  }

  function setSelect(id, value) {
    const select = $(id);
    if (value && [...select.options].some((option) => option.value === value)) select.value = value;
  }

  /** Restore the state a URL gives; true where it has an expression (then the page differentiates). */
  function restoreFromUrl() {
    const params = new URLSearchParams(location.search);
    const expression = params.get("expr");
    if (!expression || !expression.trim()) return false;
    $("expression").value = expression;
    state.chosen = {};
    for (const entry of (params.get("kinds") || "").split(",")) {
      const [name, kind] = entry.split(":").map((part) => part.trim());
      if (name && KINDS.includes(kind)) state.chosen[name] = kind;
    }
    state.wrt = params.get("wrt") || null;
    setSelect("order", params.get("order"));
    setSelect("layout", params.get("layout"));
    setSelect("code-backend", params.get("code"));
    return true;
  }

  // Examples -------------------------------------------------------------------------------------------

  async function loadExamples() {
    const select = $("examples");
    let data;
    try {
      const response = await fetch("/static/examples.json");
      data = await response.json();
    } catch (e) {
      select.closest(".field").hidden = true;
      return;
    }
    state.examples = [];
    for (const group of data.groups) {
      const optgroup = document.createElement("optgroup");
      optgroup.label = group.label;
      for (const example of group.examples) {
        optgroup.append(new Option(`${example.label}: ${example.expression}`, String(state.examples.length)));
        state.examples.push(example);
      }
      select.append(optgroup);
    }
    select.disabled = false;
  }

  function chooseExample() {
    const select = $("examples");
    const example = state.examples && state.examples[Number(select.value)];
    if (!example) return;
    select.value = ""; // back to "Examples…", so choosing the same one again works
    $("expression").value = example.expression;
    state.chosen = { ...(example.kinds || {}) };
    state.wrt = example.wrt || null;
    $("order").value = String(example.order || 1);
    if (example.layout) $("layout").value = example.layout;
    differentiate();
  }

  // Small things ---------------------------------------------------------------------------------------

  function toast(message) {
    const element = $("toast");
    element.textContent = message;
    element.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (element.hidden = true), 1600);
  }

  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(`${what} copied`);
  }

  function toggleSteps() {
    state.stepsOpen = !state.stepsOpen;
    $("steps").hidden = !state.stepsOpen;
    const button = $("toggle-steps");
    button.textContent = state.stepsOpen ? "Hide steps" : "Show steps";
    button.setAttribute("aria-expanded", String(state.stepsOpen));
    if (state.stepsOpen) updateScrollers();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("form").addEventListener("submit", differentiate);
    $("expression").addEventListener("input", () => {
      syncUrl();
      scheduleVariables();
    });
    for (const id of ["wrt", "order", "layout"]) $(id).addEventListener("change", syncUrl);
    $("toggle-steps").addEventListener("click", toggleSteps);
    $("copy-latex").addEventListener("click", () => state.last && copy(state.last.latex, "LaTeX"));
    $("copy-text").addEventListener("click", () => state.last && copy(state.last.derivative, "Text"));
    $("copy-code").addEventListener("click", () => state.code && copy(state.code, "Code"));
    $("code-backend").addEventListener("change", changeBackend);
    $("examples").addEventListener("change", chooseExample);
    document.querySelectorAll(".scroll").forEach(watchScroll);
    window.addEventListener("resize", updateScrollers);
    loadExamples();
    document.body.dataset.ready = "true";
    if (restoreFromUrl()) differentiate();
    else refreshVariables(true);
  });
})();
