// Progressive enhancement only: a "Copy" button next to every element with
// data-copy. Everything works without this script.
document.querySelectorAll("[data-copy]").forEach(function (el) {
  if (!navigator.clipboard) return;
  var b = document.createElement("button");
  b.type = "button";
  b.className = "secondary";
  b.textContent = "Copy";
  b.setAttribute("aria-label", "Copy " + (el.getAttribute("data-copy") || "text"));
  b.addEventListener("click", function () {
    navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = "Copied"; });
  });
  el.insertAdjacentElement("afterend", b);
});
