export function css(color: string, dark: boolean, left: boolean): string {
  const bg = dark ? "#111827" : "#ffffff";
  const fg = dark ? "#f3f4f6" : "#111827";
  const muted = dark ? "#9ca3af" : "#6b7280";
  const bubble = dark ? "#1f2937" : "#f3f4f6";
  const border = dark ? "#374151" : "#e5e7eb";
  const side = left ? "left" : "right";
  return `
:host{all:initial;position:fixed;bottom:20px;${side}:20px;z-index:2147483000;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:${fg}}
:host([data-mode=page]){inset:0;bottom:0;${side}:0}
*{box-sizing:border-box}
button{font:inherit;cursor:pointer}
.bubble{width:56px;height:56px;border-radius:50%;border:0;background:${color};color:#fff;box-shadow:0 6px 20px rgba(0,0,0,.25);display:grid;place-items:center}
.bubble:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid ${color};outline-offset:2px}
.bubble svg{width:26px;height:26px}
.panel{position:absolute;bottom:72px;${side}:0;width:380px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 110px);background:${bg};border:1px solid ${border};border-radius:16px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}
.panel[hidden]{display:none}
:host([data-mode=page]) .panel{position:static;width:100%;max-width:none;height:100vh;max-height:none;border-radius:0;border:0}
@media (max-width:480px){.panel{position:fixed;inset:0;width:100vw;max-width:none;height:100%;max-height:none;border-radius:0}}
header{display:flex;align-items:center;gap:10px;padding:12px 14px;background:${color};color:#fff}
header img{width:28px;height:28px;border-radius:50%;object-fit:cover}
header h2{font-size:15px;font-weight:600;margin:0;flex:1}
header button{background:transparent;border:0;color:#fff;font-size:20px;line-height:1;padding:4px 8px;border-radius:6px}
.log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px}
.msg{max-width:88%;padding:9px 12px;border-radius:14px;word-wrap:break-word;overflow-wrap:anywhere}
.msg.user{align-self:flex-end;background:${color};color:#fff;white-space:pre-wrap}
.msg.assistant{align-self:flex-start;background:${bubble}}
.msg.notice{align-self:center;background:transparent;color:${muted};font-size:13px;text-align:center}
.msg.error{align-self:center;background:#fee2e2;color:#991b1b;font-size:13px}
.msg p{margin:0 0 .5em}.msg p:last-child{margin:0}
.msg pre{background:rgba(0,0,0,.08);padding:8px;border-radius:8px;overflow-x:auto;white-space:pre}
.msg code{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
.msg ul,.msg ol{margin:.3em 0;padding-left:1.3em}
.msg a{color:inherit;text-decoration:underline}
.msg h3,.msg h4,.msg h5,.msg h6{margin:.3em 0;font-size:1em}
.msg blockquote{margin:.3em 0;padding-left:.7em;border-left:3px solid ${border}}
.cite{font-size:.75em;color:${muted}}
.typing::after{content:"▍";animation:blink 1s steps(2) infinite}
@keyframes blink{50%{opacity:0}}
.sources{margin-top:6px;font-size:12.5px;color:${muted}}
.sources summary{cursor:pointer}
.sources ol{margin:4px 0 0;padding-left:1.3em}
.sources li{margin-bottom:4px}
.sources .snippet{display:block;color:${muted};font-size:12px}
.feedback{display:flex;gap:4px;margin-top:6px;align-items:center}
.feedback button{background:transparent;border:1px solid ${border};border-radius:8px;padding:2px 8px;color:${fg}}
.feedback button[aria-pressed=true]{background:${color};color:#fff;border-color:${color}}
.feedback input{flex:1;min-width:0;border:1px solid ${border};border-radius:8px;padding:3px 8px;background:${bg};color:${fg};font:inherit;font-size:12.5px}
.suggestions{display:flex;flex-wrap:wrap;gap:6px;padding:0 14px 8px}
.suggestions button{border:1px solid ${color};color:${color};background:transparent;border-radius:999px;padding:4px 10px;font-size:13px}
form{display:flex;gap:8px;padding:10px;border-top:1px solid ${border}}
textarea{flex:1;resize:none;border:1px solid ${border};border-radius:10px;padding:8px 10px;font:inherit;background:${bg};color:${fg};max-height:120px}
form button{border:0;border-radius:10px;background:${color};color:#fff;padding:0 14px}
form button:disabled{opacity:.5;cursor:default}
.state{flex:1;display:grid;place-items:center;text-align:center;padding:24px;color:${muted}}
.state strong{display:block;color:${fg};margin-bottom:6px}
`;
}
