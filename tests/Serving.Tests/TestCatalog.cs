using System.Runtime.CompilerServices;
using Qwen3Gen.Models;

namespace Qwen3Gen.Serving.Tests;

/// <summary>The server tests' model, registered once when the test assembly loads, so that serving its folder finds it.</summary>
internal static class TestCatalog
{
#pragma warning disable CA2255 // a test assembly's one-time setup: xunit 2 has no assembly fixture
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => ModelCatalog.Register(Qwen3ServeTest.Definition);
}
