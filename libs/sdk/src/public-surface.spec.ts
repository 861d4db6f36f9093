/**
 * Guards the public surface: every symbol `index.ts` exports has a doc comment (ADR 0032),
 * and the list of exports changes only on purpose (update the snapshot below with it).
 */
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

const indexPath = fileURLToPath(new URL('./index.ts', import.meta.url));

function exportedSymbols() {
  const program = ts.createProgram([indexPath], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(indexPath)!;
  const moduleSymbol = checker.getSymbolAtLocation(source)!;
  return checker.getExportsOfModule(moduleSymbol).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const documented =
      target.getDocumentationComment(checker).length > 0 ||
      (target.declarations ?? []).some((d) => ts.getJSDocCommentsAndTags(d).length > 0);
    return { name: symbol.getName(), documented };
  });
}

describe('public surface', () => {
  const symbols = exportedSymbols();

  it('documents every export', () => {
    expect(symbols.filter((s) => !s.documented).map((s) => s.name)).toEqual([]);
  });

  it('exports exactly these names', () => {
    expect(symbols.map((s) => s.name).sort()).toMatchInlineSnapshot(`
     [
       "APIConnectionError",
       "APIError",
       "APIResponse",
       "APITimeoutError",
       "APIUserAbortError",
       "AuthenticationError",
       "BadRequestError",
       "BinaryResponse",
       "ClientOptions",
       "ConflictError",
       "CreateAndWaitOptions",
       "CursorPage",
       "CursorPageBody",
       "CursorPageParams",
       "DEFAULT_BASE_URL",
       "DEFAULT_MAX_RETRIES",
       "DEFAULT_TIMEOUT_MS",
       "DownloadResult",
       "ErrorObject",
       "ErrorResponse",
       "GotTransportOptions",
       "HttpMethod",
       "InternalServerError",
       "Model",
       "ModelList",
       "ModelPresets",
       "Models",
       "NamedUpload",
       "NotFoundError",
       "PagePromise",
       "PayloadTooLargeError",
       "PermissionDeniedError",
       "PresetRange",
       "RateLimitError",
       "RequestOptions",
       "ServerSentEvent",
       "ServiceUnavailableError",
       "T2V",
       "T2VError",
       "TERMINAL_VIDEO_STATUSES",
       "Transport",
       "TransportRequest",
       "TransportResponse",
       "UnprocessableEntityError",
       "Uploadable",
       "Usage",
       "UsageGroup",
       "UsageParams",
       "UsageReport",
       "UsageRow",
       "VERSION",
       "Video",
       "VideoAcceleration",
       "VideoAdjustment",
       "VideoAdjustments",
       "VideoContentOptions",
       "VideoContentVariant",
       "VideoCreateOptions",
       "VideoCreateParams",
       "VideoDeleted",
       "VideoError",
       "VideoEvent",
       "VideoEventName",
       "VideoEventsOptions",
       "VideoList",
       "VideoListParams",
       "VideoPreview",
       "VideoPreviewEvent",
       "VideoStatus",
       "VideoTimings",
       "Videos",
       "WaitOptions",
       "components",
       "createGotTransport",
       "default",
       "isTerminalStatus",
       "operations",
       "parseSSE",
       "paths",
       "sniffImageType",
     ]
    `);
  });
});
