// Starts `nndsl lsp` (stdio) for .nn files. The server imports a spec's Python modules only
// when this workspace is trusted and `nndsl.importPythonModules` is on.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const command = vscode.workspace.getConfiguration("nndsl").get("command", "nndsl");
  return { command, args: ["lsp"], transport: TransportKind.stdio };
}

function trusted() {
  const wanted = vscode.workspace.getConfiguration("nndsl").get("importPythonModules", true);
  return Boolean(vscode.workspace.isTrusted && wanted);
}

async function start() {
  client = new LanguageClient(
    "nndsl",
    "nndsl language server",
    serverOptions(),
    {
      documentSelector: [{ language: "nndsl" }],
      initializationOptions: { trusted: trusted() },
    }
  );
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `nndsl: cannot start \`${serverOptions().command} lsp\` (${err.message || err}). ` +
        "Set `nndsl.command` to the nndsl executable of your environment, installed with the `lsp` extra."
    );
  }
}

async function restart() {
  if (client) {
    await client.stop();
  }
  await start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidGrantWorkspaceTrust(restart),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("nndsl")) {
        restart();
      }
    }),
    vscode.commands.registerCommand("nndsl.restartServer", restart)
  );
  await start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
