// A small padlock drawn in SVG (an emoji needs a font the machine may not have).
import { html } from './html.js';

export function Lock({ title }) {
  return html`<svg class="lock-icon" width="12" height="14" viewBox="0 0 12 14" role="img" aria-label="mTLS">
    ${title && html`<title>${title}</title>`}
    <path d="M 3 6 V 3.5 a 3 3 0 0 1 6 0 V 6" fill="none" stroke="currentColor" stroke-width="1.4" />
    <rect x="1" y="6" width="10" height="7.5" rx="1.2" fill="currentColor" />
  </svg>`;
}
