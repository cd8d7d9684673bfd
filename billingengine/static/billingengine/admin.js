// BillingEngine admin: "Copy" buttons (the new API key) and the usage month picker on the customer page.
"use strict";
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
  } else {
    selectText(source);
    try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected for Ctrl+C */ }
  }
});
function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
document.addEventListener("change", function (event) {
  const select = event.target.closest("select[data-month-picker]");
  if (!select) return;
  const url = new URL(window.location.href);
  url.searchParams.set(select.dataset.monthPicker, select.value);
  url.hash = "usage";
  window.location.assign(url.toString());
});
