// HTTPRoute filters as the destination reads them: the supported ones carried to the profile,
// an unsupported one or a redirect loop warned about (file, resource, field) and refusing its
// rule, and hostile values (bad header names, CR/LF in values, hop-by-hop headers, bad redirects)
// refusing the file with an error that says what and where.
import { describe, expect, it } from 'vitest';
import { loadFolder } from './resource-folder.ts';

const WEB_SERVICE = 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: production}\nspec:\n  selector: {app: web}\n  ports: [{port: 8080}]\n';

/** What the destination says of the web Service and `route`. */
function problemsOf(route: string): string[] {
  return loadFolder({ 'web.yaml': WEB_SERVICE, 'route.yaml': route }).problems();
}

const route = (rule: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: production}
spec:
  parentRefs: [{name: web, kind: Service, group: core, port: 8080}]
  rules:
${rule}`;

describe('HTTPRoute filters in the destination', () => {
  it('loads the supported filters without a word', () => {
    expect(problemsOf(route(`  - matches: [{path: {type: PathPrefix, value: /a}}]
    filters:
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: "1"}], remove: [x-b]}}
    - {type: ResponseHeaderModifier, responseHeaderModifier: {add: [{name: x-c, value: "2"}]}}
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]
`))).toEqual([]);
  });

  it('warns about an unsupported filter and a backendRef filter, naming file, resource and field', () => {
    expect(problemsOf(route(`  - filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web}}}]
  - backendRefs: [{name: web, port: 8080, filters: [{type: RequestHeaderModifier}]}]
  - filters: [{type: ExtensionRef, extensionRef: {group: x, kind: y, name: z}}]
`))).toEqual([
      'warning: route.yaml: HTTPRoute production/web: spec.rules[0].filters[0].type: filter "RequestMirror" is not supported on a HTTPRoute (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect are); the rule is refused: requests it matches are answered 500, never served without the filter',
      'warning: route.yaml: HTTPRoute production/web: spec.rules[1].backendRefs[0].filters: backendRef filters are not supported (Linkerd applies filters per rule); the rule is refused: requests it matches are answered 500, never served without the filter',
      'warning: route.yaml: HTTPRoute production/web: spec.rules[2].filters[0].type: filter "ExtensionRef" is not supported on a HTTPRoute (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect are); the rule is refused: requests it matches are answered 500, never served without the filter',
    ]);
  });

  it.each([
    ['a redirect that changes nothing', '  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301}}]\n',
      'spec.rules[0].filters[0].requestRedirect: the redirect changes neither scheme, hostname, port nor path: every client would be sent back to the same URL (a redirect loop)'],
    ['a redirect to a path its own rule matches', '  - matches: [{path: {type: PathPrefix, value: /a}}]\n    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /a/b}}}]\n',
      'spec.rules[0].filters[0].requestRedirect: the redirect\'s path "/a/b" is matched by the same rule again (PathPrefix "/a"): a redirect loop'],
  ])('warns about %s and refuses the rule', (_what, rule, message) => {
    expect(problemsOf(route(rule))).toEqual([
      `warning: route.yaml: HTTPRoute production/web: ${message}; the rule is refused: requests it matches are answered 500, never served without the filter`,
    ]);
  });

  it.each([
    ['a header name that is not a token', '{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: "x y", value: "1"}]}}',
      'spec.rules[0].filters[0].requestHeaderModifier.set[0].name: must be a header name (letters, digits and !#$%&\'*+.^_`|~-), got "x y"'],
    ['a value with a line break (header injection)', '{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: "1\\r\\nx-evil: 2"}]}}',
      'spec.rules[0].filters[0].requestHeaderModifier.set[0].value: must be one line of visible text (no CR, LF or NUL), got "1\\r\\nx-evil: 2"'],
    ['a hop-by-hop header', '{type: ResponseHeaderModifier, responseHeaderModifier: {remove: [Transfer-Encoding]}}',
      'spec.rules[0].filters[0].responseHeaderModifier.remove[0]: "Transfer-Encoding" is set by the proxy on every hop; a filter may not change it'],
    ['a header named twice', '{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-a, value: "1"}], remove: [X-A]}}',
      'spec.rules[0].filters[0].requestHeaderModifier.remove[0]: header "x-a" appears twice in the RequestHeaderModifier; each header may be named once'],
    ['a modifier without its settings', '{type: RequestHeaderModifier}',
      'spec.rules[0].filters[0].requestHeaderModifier: is required for type RequestHeaderModifier'],
    ['a redirect status that is not 301 or 302', '{type: RequestRedirect, requestRedirect: {hostname: a.example, statusCode: 307}}',
      'spec.rules[0].filters[0].requestRedirect.statusCode: must be 301 or 302 (the Gateway API\'s redirect statuses), got 307'],
    ['a redirect hostname with a port', '{type: RequestRedirect, requestRedirect: {hostname: "a.example:8080"}}',
      'spec.rules[0].filters[0].requestRedirect.hostname: must be a lowercase DNS name (no port, no scheme), got "a.example:8080"'],
    ['a redirect scheme other than http or https', '{type: RequestRedirect, requestRedirect: {scheme: ftp}}',
      'spec.rules[0].filters[0].requestRedirect.scheme: must be http or https, got "ftp"'],
    ['a redirect path with a query', '{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: "/x?y=1"}}}',
      'spec.rules[0].filters[0].requestRedirect.path.replaceFullPath: must be an absolute path without query or fragment, got "/x?y=1"'],
    ['ReplacePrefixMatch on a rule without a PathPrefix match', '{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /x}}}',
      'spec.rules[0].filters[0].requestRedirect.path.type: ReplacePrefixMatch needs every match of the rule to be a PathPrefix path match'],
  ])('refuses the file for %s, saying what and where', (_what, filter, message) => {
    const problems = problemsOf(route(`  - filters: [${filter}]\n`));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
    expect(problems[0]).toMatch(/^error: route\.yaml/);
  });
});
