using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Qwen3Gen.Inference;
using Qwen3Gen.Serving;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Sample.Serving;

/// <summary>
/// The OpenAI-compatible HTTP API on Kestrel over one <see cref="BatchEngine"/>:
/// <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c> (both streaming as server-sent events or not),
/// <c>GET /v1/models</c>, <c>GET /health</c>. Request threads parse, render and tokenize; the engine's thread runs the
/// model. A client that disconnects cancels its request (its slot is freed at the next step). Every failure of a
/// request becomes an OpenAI error object on that request only.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    /// <summary>Largest request body accepted (bytes).</summary>
    public const long MaxBodyBytes = 8 << 20;

    private readonly WebApplication _app;
    private readonly BatchEngine _engine;
    private readonly Qwen3Tokenizer _tokenizer;
    private readonly GenerationConfig _defaults;
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private OpenAiServer(WebApplication app, BatchEngine engine, string modelId, GenerationConfig defaults)
    {
        _app = app;
        _engine = engine;
        _tokenizer = engine.Tokenizer;
        _defaults = defaults;
        ModelId = modelId;
    }

    /// <summary>The id clients see in /v1/models and in every response's "model".</summary>
    public string ModelId { get; }

    /// <summary>Base address, e.g. http://127.0.0.1:8080 (the real port when 0 was asked).</summary>
    public string Address => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Builds and starts the server on <paramref name="host"/>:<paramref name="port"/> (port 0: any free port).</summary>
    public static async Task<OpenAiServer> StartAsync(BatchEngine engine, string modelId, GenerationConfig defaults, string host, int port,
                                                      TextWriter? log = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (log is not null) builder.Logging.AddProvider(new TextLoggerProvider(log)).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = MaxBodyBytes;
            k.AddServerHeader = false;
            if (host is "localhost") k.ListenLocalhost(port);
            else if (IPAddress.TryParse(host, out var ip)) k.Listen(ip, port);
            else throw new ArgumentException($"--host '{host}' is not an IP address or 'localhost'.");
        });
        var app = builder.Build();
        var server = new OpenAiServer(app, engine, modelId, defaults);
        app.MapPost("/v1/chat/completions", server.ChatCompletions);
        app.MapPost("/v1/completions", server.Completions);
        app.MapGet("/v1/models", server.Models);
        app.MapGet("/health", server.Health);
        app.MapFallback(ctx => WriteError(ctx, new ApiException(404, $"No route {ctx.Request.Method} {ctx.Request.Path}: the API has POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health.", type: "not_found_error")));
        await app.StartAsync().ConfigureAwait(false);
        return server;
    }

    public Task WaitForShutdownAsync(CancellationToken token) => _app.WaitForShutdownAsync(token);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- endpoints

    private Task Health(HttpContext ctx) => WriteJson(ctx, 200, OpenAiJson.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("status", "ok");
        w.WriteString("model", ModelId);
        w.WriteNumber("slots", _engine.Options.Sequences);
        w.WriteNumber("running", _engine.Running);
        w.WriteNumber("queued", _engine.Queued);
        w.WriteEndObject();
    }));

    private Task Models(HttpContext ctx) => WriteJson(ctx, 200, OpenAiJson.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        w.WriteStartObject();
        w.WriteString("id", ModelId);
        w.WriteString("object", "model");
        w.WriteNumber("created", _created);
        w.WriteString("owned_by", "qwen3gen");
        w.WriteNumber("max_model_len", _engine.Options.Context);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }));

    private async Task ChatCompletions(HttpContext ctx)
    {
        try
        {
            using var body = await ReadBody(ctx).ConfigureAwait(false);
            var request = CompletionRequests.ParseChat(body.RootElement, _defaults);
            int[] prompt;
            try { prompt = ChatTemplate.Encode(_tokenizer, request.Messages, addGenerationPrompt: true, request.EnableThinking, request.Tools); }
            catch (ArgumentException e) { throw ApiException.Invalid("messages", e.Message); }
            var handle = Submit(ctx, prompt, request.Settings, separateThinking: true, "messages");
            string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            bool tools = request.Tools is not null;
            if (!request.Settings.Stream)
            {
                var result = await handle.Result.ConfigureAwait(false);
                if (result.Finish == FinishReason.Cancelled) return;
                await WriteJson(ctx, 200, OpenAiJson.ChatCompletion(id, created, ModelId, result, tools)).ConfigureAwait(false);
                return;
            }
            await using var sse = await SseWriter.Start(ctx).ConfigureAwait(false);
            await new ChatStream(sse, id, created, ModelId, tools, request.Settings.IncludeUsage).Run(handle, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) { await Fail(ctx, e).ConfigureAwait(false); }
    }

    private async Task Completions(HttpContext ctx)
    {
        try
        {
            using var body = await ReadBody(ctx).ConfigureAwait(false);
            var request = CompletionRequests.ParseCompletion(body.RootElement, _defaults, _engine.Model.Config.Vocab);
            int[] prompt = request.PromptIds ?? _tokenizer.Encode(request.Prompt!);
            var handle = Submit(ctx, prompt, request.Settings, separateThinking: false, "prompt");
            string id = "cmpl-" + Guid.NewGuid().ToString("N");
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (!request.Settings.Stream)
            {
                var result = await handle.Result.ConfigureAwait(false);
                if (result.Finish == FinishReason.Cancelled) return;
                await WriteJson(ctx, 200, OpenAiJson.TextCompletion(id, created, ModelId, result)).ConfigureAwait(false);
                return;
            }
            await using var sse = await SseWriter.Start(ctx).ConfigureAwait(false);
            var token = ctx.RequestAborted;
            await foreach (var chunk in handle.Chunks.ReadAllAsync(token).ConfigureAwait(false))
                await sse.Send(OpenAiJson.Write(w => TextChunk(w, id, created, chunk.Text, null)), token).ConfigureAwait(false);
            var final = await handle.Result.ConfigureAwait(false);
            if (final.Finish == FinishReason.Cancelled) return;
            await sse.Send(OpenAiJson.Write(w => TextChunk(w, id, created, "", OpenAiJson.FinishReason(final.Finish, false))), token).ConfigureAwait(false);
            if (request.Settings.IncludeUsage)
                await sse.Send(OpenAiJson.Write(w =>
                {
                    w.WriteStartObject();
                    OpenAiJson.Head(w, id, "text_completion", created, ModelId);
                    w.WriteStartArray("choices");
                    w.WriteEndArray();
                    OpenAiJson.Usage(w, final);
                    w.WriteEndObject();
                }), token).ConfigureAwait(false);
            await sse.Done(token).ConfigureAwait(false);
        }
        catch (Exception e) { await Fail(ctx, e).ConfigureAwait(false); }
    }

    private void TextChunk(Utf8JsonWriter w, string id, long created, string text, string? finish)
    {
        w.WriteStartObject();
        OpenAiJson.Head(w, id, "text_completion", created, ModelId);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteNumber("index", 0);
        w.WriteNull("logprobs");
        if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    // ---------------------------------------------------------------- shared steps

    private static async Task<JsonDocument> ReadBody(HttpContext ctx)
    {
        try { return await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted).ConfigureAwait(false); }
        catch (JsonException e) { throw ApiException.Invalid("body", $"The request body is not valid JSON: {e.Message}"); }
        catch (BadHttpRequestException e) { throw new ApiException(e.StatusCode, e.Message, "body"); }
    }

    private GenerationHandle Submit(HttpContext ctx, int[] prompt, CompletionSettings s, bool separateThinking, string promptField)
    {
        int context = _engine.Options.Context;
        if (prompt.Length >= context)
            throw new ApiException(400, $"This model's maximum context length is {context} tokens (prompt + reply), but the prompt has {prompt.Length} tokens. Shorten the {promptField} or restart the server with a larger --ctx.",
                                   promptField, code: "context_length_exceeded");
        var job = new GenerationJob
        {
            Prompt = prompt,
            Sampling = s.Sampling,
            Seed = s.Seed,
            MaxTokens = Math.Min(s.MaxTokens ?? context, context - prompt.Length),
            StopStrings = s.Stop,
            SeparateThinking = separateThinking,
            Cancellation = ctx.RequestAborted,
        };
        try { return _engine.Submit(job); }
        catch (EngineBusyException e) { throw new ApiException(429, e.Message, type: "rate_limit_error", code: "rate_limit_exceeded"); }
        catch (ArgumentException e) { throw ApiException.Invalid(promptField, e.Message); }
    }

    private static async Task Fail(HttpContext ctx, Exception e)
    {
        if (ctx.RequestAborted.IsCancellationRequested) return;                     // the client left: nobody to tell
        var error = e as ApiException ?? new ApiException(500, $"Internal error: {e.GetType().Name}: {e.Message}", type: "server_error");
        if (ctx.Response.HasStarted)
        {
            // Inside an event stream: the error is the last event (as OpenAI does), then the stream ends.
            try { await SseWriter.SendRaw(ctx, OpenAiJson.Error(error), ctx.RequestAborted).ConfigureAwait(false); }
            catch (Exception) when (ctx.RequestAborted.IsCancellationRequested) { }
            return;
        }
        await WriteError(ctx, error).ConfigureAwait(false);
    }

    private static Task WriteError(HttpContext ctx, ApiException e) => WriteJson(ctx, e.Status, OpenAiJson.Error(e));

    private static async Task WriteJson(HttpContext ctx, int status, byte[] json)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = json.Length;
        await ctx.Response.Body.WriteAsync(json, ctx.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>Server-sent events: <c>data: {json}\n\n</c> per event, flushed at once; <c>data: [DONE]</c> at the end.</summary>
internal sealed class SseWriter : IAsyncDisposable
{
    private static readonly byte[] Prefix = "data: "u8.ToArray(), Suffix = "\n\n"u8.ToArray(), DoneEvent = "data: [DONE]\n\n"u8.ToArray();
    private readonly HttpContext _ctx;

    private SseWriter(HttpContext ctx) => _ctx = ctx;

    public static async Task<SseWriter> Start(HttpContext ctx)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        await ctx.Response.StartAsync(ctx.RequestAborted).ConfigureAwait(false);
        return new SseWriter(ctx);
    }

    public Task Send(byte[] json, CancellationToken token) => SendRaw(_ctx, json, token);

    public static async Task SendRaw(HttpContext ctx, byte[] json, CancellationToken token)
    {
        var body = ctx.Response.Body;
        await body.WriteAsync(Prefix, token).ConfigureAwait(false);
        await body.WriteAsync(json, token).ConfigureAwait(false);
        await body.WriteAsync(Suffix, token).ConfigureAwait(false);
        await body.FlushAsync(token).ConfigureAwait(false);
    }

    public async Task Done(CancellationToken token)
    {
        await _ctx.Response.Body.WriteAsync(DoneEvent, token).ConfigureAwait(false);
        await _ctx.Response.Body.FlushAsync(token).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Writes warnings and errors of the host (not each request) to a text writer, one line each.</summary>
internal sealed class TextLoggerProvider(TextWriter output) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(output, categoryName);
    public void Dispose() { }

    private sealed class Logger(TextWriter output, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel level) => level >= LogLevel.Warning;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format)
        {
            if (!IsEnabled(level)) return;
            lock (output) output.WriteLine($"serve: {level.ToString().ToLowerInvariant()}: {category}: {format(state, e)}{(e is null ? "" : " " + e.Message)}");
        }
    }
}
