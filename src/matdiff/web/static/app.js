// matdiff's page: asks the JSON API (/api/variables, /api/diff) and renders the answer with KaTeX.
// The exported code comes with the derivative (the request's "code" is the chosen backend); choosing
// another backend asks /api/diff again for the derivative shown, without its steps and check.
"use strict";

(function () {
  const KINDS = ["scalar", "vector", "matrix", "symmetric"];
  const $ = (id) => document.getElementById(id);
  const state = {
    variables: {}, chosen: {}, last: null, stepsOpen: true, seq: 0,
    request: null, code: null, codeSeq: 0, // the request of the derivative shown, its code, the code's requests
  };

  function tex(latex, element, display) {
    try {
      katex.render(latex, element, { displayMode: display, throwOnError: false, strict: "ignore" });
    } catch (e) {
      element.textContent = latex;
    }
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
      data = await response.json();
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
    caret.hidden = rest.length === 0;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
  }

  function renderVariables(variables) {
    state.variables = variables;
    const box = $("variables");
    box.replaceChildren();
    const names = Object.keys(variables);
    if (names.length === 0) {
      const empty = document.createElement("span");
      empty.className = "empty";
      empty.textContent = "none: the expression is a constant";
      box.append(empty);
    }
    for (const name of names) {
      const chip = document.createElement("label");
      chip.className = "var";
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = name;
      const select = document.createElement("select");
      select.dataset.variable = name;
      select.setAttribute("aria-label", `kind of ${name}`);
      for (const kind of KINDS) {
        const option = new Option(kind, kind, false, kind === variables[name]);
        select.append(option);
      }
      select.addEventListener("change", () => {
        state.chosen[name] = select.value;
        refreshVariables();
      });
      chip.append(label, select);
      box.append(chip);
    }
    const wrt = $("wrt");
    const previous = wrt.value;
    wrt.replaceChildren(...names.map((name) => new Option(name, name)));
    if (names.includes(previous)) wrt.value = previous;
    else if (names.length) wrt.value = pickDefault(names, variables);
  }

  function pickDefault(names, variables) {
    // the lecture's habit: differentiate by the matrix, else the vector, else the first name
    return names.find((n) => variables[n] === "matrix" || variables[n] === "symmetric") ||
      names.find((n) => variables[n] === "vector") || names[0];
  }

  function kinds() {
    const result = {};
    for (const [name, kind] of Object.entries(state.chosen)) if (name in state.variables) result[name] = kind;
    return result;
  }

  async function refreshVariables() {
    const expression = $("expression").value;
    const seq = ++state.seq;
    if (!expression.trim()) {
      renderVariables({});
      return;
    }
    const { ok, data } = await post("/api/variables", { expression, kinds: state.chosen });
    if (seq !== state.seq) return; // a newer request is on its way
    if (ok) {
      clearError();
      renderVariables(data.variables);
    }
  }

  let timer = null;
  function scheduleVariables() {
    clearTimeout(timer);
    timer = setTimeout(refreshVariables, 250);
  }

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
      item.append(head, math);
      list.append(item);
    }
  }

  function renderCheck(check) {
    const badge = $("check-badge");
    if (!check) {
      badge.className = "badge none";
      badge.textContent = "OFF";
      $("check").textContent = "";
      return;
    }
    badge.className = "badge " + (check.passed === true ? "pass" : check.passed === false ? "fail" : "none");
    badge.textContent = check.passed === true ? "PASS" : check.passed === false ? "FAIL" : "N/A";
    $("check").textContent = check.text;
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
    $("copy-code").disabled = !ok;
  }

  async function changeBackend() {
    const request = state.request; // the derivative shown
    if (!request) return; // nothing differentiated yet: the next result brings the code
    const seq = ++state.codeSeq;
    $("code").setAttribute("aria-busy", "true");
    const body = { ...request, steps: false, check: false, code: $("code-backend").value };
    const { ok, data } = await post("/api/diff", body);
    if (seq !== state.codeSeq || request !== state.request) return; // another backend or derivative came since
    renderCode(ok ? data : { code: null, code_error: data.error });
  }

  function renderResult(data) {
    state.last = data;
    const by = data.wrt.map((name) => `\\partial ${name}`).join("\\, ");
    const order = data.wrt.length;
    const head = order === 1 ? `\\frac{\\partial}{${by}}` : `\\frac{\\partial^{${order}}}{${by}}`;
    const math = $("math");
    if (data.latex.length > 20000) {
      math.textContent = "(too large to typeset: see the text form below)";
    } else {
      tex(`${head}\\left[${data.expression_latex}\\right] = ${data.latex}`, math, true);
    }
    $("shape").textContent = data.shape_text;
    $("result-variables").textContent = Object.entries(data.variables).map(([n, k]) => `${n} ${k}`).join(", ");
    $("derivative-text").textContent = data.derivative;
    renderSteps(data);
    renderCheck(data.check);
    renderCode(data);
    $("result").hidden = false;
  }

  async function differentiate(event) {
    if (event) event.preventDefault();
    const button = $("go");
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      const body = {
        expression: $("expression").value,
        kinds: kinds(),
        wrt: $("wrt").value ? [$("wrt").value] : [],
        order: Number($("order").value),
        layout: $("layout").value,
        code: $("code-backend").value,
      };
      const { ok, data } = await post("/api/diff", body);
      if (ok) {
        clearError();
        state.request = body;
        state.codeSeq++; // code still on its way is for the derivative shown before
        renderVariables(data.variables);
        renderResult(data);
        if (body.code !== $("code-backend").value) changeBackend(); // the backend changed meanwhile
      } else {
        state.request = null;
        $("result").hidden = true;
        showError(data);
      }
    } finally {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

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
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("form").addEventListener("submit", differentiate);
    $("expression").addEventListener("input", scheduleVariables);
    $("toggle-steps").addEventListener("click", toggleSteps);
    $("copy-latex").addEventListener("click", () => state.last && copy(state.last.latex, "LaTeX"));
    $("copy-text").addEventListener("click", () => state.last && copy(state.last.derivative, "Text"));
    $("copy-code").addEventListener("click", () => state.code && copy(state.code, "Code"));
    $("code-backend").addEventListener("change", changeBackend);
    document.body.dataset.ready = "true";
    refreshVariables();
  });
})();
