// OpenTrail console: small progressive enhancements; every page works without them.

function customRange(form) {
  const range = form.querySelector("[data-range]");
  if (!range) return;
  const sync = () => {
    for (const field of form.querySelectorAll("[data-custom]")) {
      field.hidden = range.value !== "custom";
    }
  };
  range.addEventListener("change", sync);
  sync();
}

function attributeRows(form) {
  const rows = form.querySelector("[data-attr-rows]");
  const add = form.querySelector("[data-add-attr]");
  if (!rows || !add) return;
  let serial = rows.children.length;
  add.addEventListener("click", () => {
    const copy = rows.lastElementChild.cloneNode(true);
    serial += 1;
    const select = copy.querySelector("select");
    const input = copy.querySelector("input");
    for (const [el, prefix] of [[select, "f-k"], [input, "f-v"]]) {
      const label = copy.querySelector(`label[for="${el.id}"]`);
      el.id = prefix + serial;
      if (label) label.htmlFor = el.id;
    }
    input.value = "";
    rows.appendChild(copy);
    input.focus();
  });
  rows.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove-attr]");
    if (!button) return;
    const row = button.closest("[data-attr-row]");
    if (rows.children.length > 1) row.remove();
    else row.querySelector("input").value = "";
  });
}

function clickableRows() {
  // The event name is the real link (keyboard and screen readers use it); a click
  // anywhere else on the row follows it too, unless the user is selecting text.
  for (const row of document.querySelectorAll("tr[data-href]")) {
    row.addEventListener("click", (event) => {
      if (event.target.closest("a, button") || String(window.getSelection())) return;
      window.location.assign(row.dataset.href);
    });
  }
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "sr-only";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

function copyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    const status = button.parentElement.querySelector("[data-copy-status]");
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      try {
        await copyText(source.textContent);
        if (status) status.textContent = "Copied";
      } catch {
        if (status) status.textContent = "Copy failed: select the text and copy it by hand";
      }
      if (status) setTimeout(() => { status.textContent = ""; }, 2500);
    });
  }
}

function samplePicker() {
  // Picking a sample puts its SQL in the editor at once; without JavaScript the
  // "Load sample" button reloads the page with it.
  const picker = document.querySelector("[data-sample-picker]");
  const editor = document.querySelector("[data-sql-editor]");
  if (!picker || !editor) return;
  const load = document.querySelector("[data-sample-load]");
  if (load) load.hidden = true;
  picker.addEventListener("change", () => {
    const option = picker.options[picker.selectedIndex];
    editor.value = option.dataset.sql;
    editor.focus();
  });
}

for (const form of document.querySelectorAll("form.filters")) {
  customRange(form);
  attributeRows(form);
}
clickableRows();
copyButtons();
samplePicker();
