// htm bound to preact: JSX-like templates without a compile step. htm builds elements, never
// parses strings as markup, so every value interpolated here reaches the page as text.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
