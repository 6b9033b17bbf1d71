using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Serving;
using Qwen3Gen.Models;

namespace Qwen3Gen.Serving.Tests;

/// <summary>A live server on a free loopback port over a <see cref="BatchEngine"/> of the given model.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public const string ModelId = "qwen3-serve-test";

    private TestServer(IQwen3Model model, BatchEngine engine, OpenAiServer server)
    {
        Model = model;
        Engine = engine;
        Server = server;
        BaseUri = new Uri(server.Address + "/v1/");
        Http = new HttpClient { BaseAddress = new Uri(server.Address + "/"), Timeout = TimeSpan.FromMinutes(2) };
    }

    public IQwen3Model Model { get; }
    public BatchEngine Engine { get; }
    public OpenAiServer Server { get; }

    /// <summary>http://127.0.0.1:PORT/v1/ (what OpenAI clients take as their endpoint).</summary>
    public Uri BaseUri { get; }

    public HttpClient Http { get; }

    /// <summary>Greedy by default (generation_config without do_sample), so replies are comparable.</summary>
    public static async Task<TestServer> Start(IQwen3Model model, BatchEngineOptions? options = null, GenerationConfig? defaults = null,
                                               int[]? stopIds = null)
    {
        var engine = new BatchEngine(model, ServingModels.Tokenizer, stopIds, options ?? new BatchEngineOptions { Sequences = 8, Context = 512, PrefillChunk = 16, MaxQueue = 64 });
        var server = await OpenAiServer.StartAsync(engine, ModelId, defaults ?? GenerationConfig.Qwen3Default with { DoSample = false }, "127.0.0.1", 0);
        return new TestServer(model, engine, server);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Engine.Dispose();
        Model.Dispose();
    }
}
