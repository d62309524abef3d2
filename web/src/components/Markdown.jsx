// Markdown.jsx - renders model output as safe markdown: marked turns it into
// HTML, DOMPurify removes anything executable, code blocks get a header with
// the language and a Copy button (handled by event delegation, since the HTML
// is injected and carries no listeners of its own).
import DOMPurify from 'dompurify';
import { Marked } from 'marked';
import { useMemo } from 'preact/hooks';
import { copyText, toast } from './ui.jsx';

const escapeHtml = (s) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const language = (lang || '').split(/\s/)[0];
      return (
        `<div class="code-block"><div class="code-head"><span>${escapeHtml(language || 'code')}</span>` +
        `<button type="button" class="btn ghost sm" data-copy-code aria-label="Copy code">Copy</button></div>` +
        `<pre><code${language ? ` class="language-${escapeHtml(language)}"` : ''}>${escapeHtml(text)}</code></pre></div>`
      );
    },
  },
});

// Links open in a new tab without giving it a handle on this window.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

export function renderMarkdown(text) {
  const html = marked.parse(text || '', { async: false });
  return DOMPurify.sanitize(html, { FORBID_TAGS: ['style', 'form', 'input'], FORBID_ATTR: ['style'] });
}

async function onClick(e) {
  const btn = e.target.closest && e.target.closest('[data-copy-code]');
  if (!btn) return;
  const code = btn.closest('.code-block').querySelector('code');
  if (await copyText(code.textContent)) {
    btn.textContent = 'Copied';
    toast('Code copied');
    setTimeout(() => (btn.textContent = 'Copy'), 1500);
  }
}

export function Markdown({ text, streaming }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return (
    <div class={'markdown' + (streaming ? ' cursor' : '')} onClick={onClick}
      dangerouslySetInnerHTML={{ __html: html }} />
  );
}
