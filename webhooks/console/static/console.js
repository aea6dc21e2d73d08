// Progressive enhancement only: every form of the console works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // A running replay posts its next batch as soon as the progress page shows.
  const next = document.querySelector("form[data-autosubmit]");
  if (next) {
    next.submit();
  }
  // "Select all" boxes in the failed page's tables.
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.addEventListener("change", () => {
      const group = all.dataset.selectAll;
      for (const box of document.querySelectorAll(`input[name="ids"][data-group="${group}"]`)) {
        box.checked = all.checked;
      }
    });
  }
});
