// Copy buttons: <button data-copy-target="ID"> copies the value of #ID and says "Copied".
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copyTarget);
  const status = document.getElementById("copy-status");
  try {
    await navigator.clipboard.writeText(field.value);
  } catch (_) {
    // No Clipboard API (plain http, older browser): select a textarea and copy it.
    const area = document.createElement("textarea");
    area.value = field.value;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "Copied";
  if (status) status.textContent = "Invite link copied";
  setTimeout(() => {
    button.textContent = "Copy";
    if (status) status.textContent = "";
  }, 2000);
});
