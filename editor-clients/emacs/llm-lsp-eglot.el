;;; llm-lsp-eglot.el --- llm-lsp (AI pair programmer) through Eglot -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: tools, languages, convenience

;;; Commentary:

;; Registers the llm-lsp language server with Eglot and adds the commands it offers.
;;
;;   (add-to-list 'load-path "/path/to/llm-lsp/editor-clients/emacs")
;;   (require 'llm-lsp-eglot)
;;   (setq llm-lsp-settings '(:model "qwen2.5-coder:7b" :baseUrl "http://127.0.0.1:11434/v1"))
;;   (llm-lsp-eglot-setup)          ; then M-x eglot in a buffer (or eglot-ensure in a hook)
;;
;; What works with Eglot: ghost text while typing (llm-lsp-inline.el, since Eglot has no inline UI:
;; TAB accepts, M-f accepts a word, C-e a line, M-] / M-[ cycle alternatives, C-g hides; with
;; `llm-lsp-ghost-text' nil the suggestion is a completion item instead, for completion-at-point /
;; company / corfu), "Fix with AI" and "AI: ..." code actions (M-x eglot-code-actions, or
;; M-x llm-lsp-fix-at-point which also passes the diagnostics of other Flymake backends), the
;; commands M-x llm-lsp-explain / -document / -tests / -simplify / -refactor / -fix on the region,
;; and M-x llm-lsp-stats (your acceptance figures: counts kept on this machine only).
;;
;; Eglot runs ONE server per buffer: a mode registered here uses llm-lsp instead of its usual language
;; server.  To keep pyright & co. alongside llm-lsp, use lsp-mode (llm-lsp registers as an add-on).
;;
;; Settings are sent as initializationOptions and as the "llmLsp" section of
;; workspace/configuration (`eglot-workspace-configuration').  The API key: set OPENAI_API_KEY in
;; Emacs' environment (e.g. (setenv "OPENAI_API_KEY" (auth-source-pick-first-password ...))).

;;; Code:

(require 'eglot)
(require 'jsonrpc)
(require 'cl-lib)
(require 'subr-x)
(require 'llm-lsp-inline)

(defgroup llm-lsp nil
  "AI pair programmer through the llm-lsp language server."
  :group 'tools
  :prefix "llm-lsp-")

(defcustom llm-lsp-command '("llm-lsp")
  "The llm-lsp command and its arguments."
  :type '(repeat string))

(defcustom llm-lsp-settings nil
  "The llmLsp settings as a plist (camelCase keys), e.g.
\\='(:model \"gpt-4o-mini\" :completion (:enable t :disabledLanguages [\"markdown\"]))."
  :type 'plist)

(defcustom llm-lsp-eglot-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode tsx-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode java-mode java-ts-mode c-mode c-ts-mode c++-mode
    c++-ts-mode csharp-mode csharp-ts-mode ruby-mode ruby-ts-mode php-mode sh-mode bash-ts-mode)
  "Major modes in which Eglot starts llm-lsp."
  :type '(repeat symbol))

(defcustom llm-lsp-ghost-text t
  "Show suggestions as ghost text (llm-lsp-inline.el).
Nil: as an item of the completion list (the client then declares no inline completion)."
  :type 'boolean)

(defvar llm-lsp-status nil
  "The last llmLsp/status notification as a plist (:state :model :message :summary).")

(defclass llm-lsp-eglot-server (eglot-lsp-server) ()
  :documentation "Eglot's connection to llm-lsp (it declares inline completion when ghost text is on).")

(cl-defmethod eglot-client-capabilities ((server llm-lsp-eglot-server))
  "Eglot's capabilities, plus inline completion when `llm-lsp-ghost-text' draws it."
  (let ((capabilities (cl-call-next-method server)))
    (if (not llm-lsp-ghost-text)
        capabilities
      (plist-put (copy-sequence capabilities) :textDocument
                 (append (plist-get capabilities :textDocument)
                         (list :inlineCompletion (list :dynamicRegistration :json-false)))))))

(defun llm-lsp--contact ()
  "Eglot contact: our server class, the command and initializationOptions."
  (cons 'llm-lsp-eglot-server
        (append llm-lsp-command (list :initializationOptions (or llm-lsp-settings '(:logLevel "info"))))))

(defun llm-lsp-eglot--inline-backend (server)
  "How llm-lsp-inline.el reaches SERVER through Eglot."
  (list :params #'eglot--TextDocumentPositionParams
        :request (lambda (params on-result)
                   (eglot--signal-textDocument/didChange) ; the server must see the text first
                   (jsonrpc-async-request server :textDocument/inlineCompletion params
                                          :success-fn on-result :error-fn #'ignore :timeout-fn #'ignore))
        :notify (lambda (method params) (jsonrpc-notify server (intern (concat ":" method)) params))
        :execute (lambda (command)
                   (jsonrpc-async-request server :workspace/executeCommand
                                          (list :command (plist-get command :command)
                                                :arguments (or (plist-get command :arguments) []))
                                          :success-fn #'ignore :error-fn #'ignore :timeout-fn #'ignore))
        :to-point #'eglot--lsp-position-to-point))

(defun llm-lsp-eglot--start-ghost-text ()
  "Turn on ghost text in buffers Eglot manages with llm-lsp."
  (let ((server (and (eglot-managed-p) (eglot-current-server))))
    (if (and llm-lsp-ghost-text (cl-typep server 'llm-lsp-eglot-server))
        (progn (setq llm-lsp-inline-backend (llm-lsp-eglot--inline-backend server))
               (llm-lsp-inline-mode 1))
      (when (bound-and-true-p llm-lsp-inline-mode)
        (llm-lsp-inline-mode -1)))))

(add-hook 'eglot-managed-mode-hook #'llm-lsp-eglot--start-ghost-text)

(defun llm-lsp-eglot--workspace-configuration ()
  "`eglot-workspace-configuration' with our llmLsp section set."
  (let ((conf (if (functionp eglot-workspace-configuration) nil eglot-workspace-configuration)))
    (plist-put (copy-sequence conf) :llmLsp (or llm-lsp-settings (make-hash-table)))))

;;;###autoload
(defun llm-lsp-eglot-setup ()
  "Register llm-lsp for `llm-lsp-eglot-modes' and pass `llm-lsp-settings'."
  (interactive)
  (setq eglot-server-programs
        (cons (cons llm-lsp-eglot-modes (lambda (&rest _) (llm-lsp--contact)))
              (cl-remove-if (lambda (entry) (equal (car entry) llm-lsp-eglot-modes)) eglot-server-programs)))
  (setq-default eglot-workspace-configuration (llm-lsp-eglot--workspace-configuration)))

;; llmLsp/status -> `llm-lsp-status' and the mode line (via `llm-lsp-mode-line').
(cl-defmethod eglot-handle-notification (_server (_method (eql llmLsp/status)) &rest params)
  "Remember the server's status PARAMS."
  (setq llm-lsp-status params)
  (force-mode-line-update t))

(defun llm-lsp-mode-line ()
  "A short status string, e.g. for `mode-line-misc-info'; the acceptance summary as its tooltip."
  (if llm-lsp-status
      (propertize (format "llm-lsp:%s" (plist-get llm-lsp-status :state))
                  'help-echo (let ((summary (plist-get llm-lsp-status :summary)))
                               (if (and summary (not (string-empty-p summary))) summary nil)))
    ""))

;;; Requests

(defun llm-lsp--server ()
  (eglot--current-server-or-lose))

(defun llm-lsp--range (beg end)
  (list :start (eglot--pos-to-lsp-position beg) :end (eglot--pos-to-lsp-position end)))

(defun llm-lsp--region ()
  "The active region, else the current line."
  (if (use-region-p)
      (cons (region-beginning) (region-end))
    (cons (line-beginning-position) (line-end-position))))

(defun llm-lsp--flymake-diagnostics (beg end)
  "Flymake diagnostics between BEG and END from every backend, as LSP Diagnostics."
  (cl-loop for diag in (flymake-diagnostics beg end)
           collect (list :range (llm-lsp--range (flymake-diagnostic-beg diag) (flymake-diagnostic-end diag))
                         :severity (pcase (flymake-diagnostic-type diag)
                                     ((or 'eglot-error :error) 1)
                                     ((or 'eglot-warning :warning) 2)
                                     (_ 3))
                         :message (flymake-diagnostic-text diag))))

(defun llm-lsp--apply-action (server action)
  "Resolve ACTION if needed, then apply its edit and run its command."
  (when (and (not (plist-get action :edit)) (plist-get action :data))
    (setq action (jsonrpc-request server :codeAction/resolve action :timeout 120)))
  (when-let ((edit (plist-get action :edit)))
    (eglot--apply-workspace-edit edit))
  (when-let ((command (plist-get action :command)))
    (llm-lsp--execute server (plist-get command :command) (plist-get command :arguments)))
  action)

(defun llm-lsp-code-actions (beg end diagnostics &optional only)
  "llm-lsp's code actions for BEG..END given DIAGNOSTICS (a list of LSP Diagnostic plists)."
  (jsonrpc-request (llm-lsp--server) :textDocument/codeAction
                   (list :textDocument (eglot--TextDocumentIdentifier)
                         :range (llm-lsp--range beg end)
                         :context (append (list :diagnostics (vconcat diagnostics))
                                          (when only (list :only (vconcat only)))))))

(defun llm-lsp-fix (&optional diagnostics)
  "Apply llm-lsp's first \"Fix with AI\" quick fix on the current line.
DIAGNOSTICS defaults to every Flymake diagnostic on the line, whatever its backend."
  (interactive)
  (let* ((beg (line-beginning-position)) (end (line-end-position))
         (diags (or diagnostics (llm-lsp--flymake-diagnostics beg end)))
         (actions (llm-lsp-code-actions beg end diags '("quickfix")))
         (fix (cl-find-if (lambda (a) (string-prefix-p "Fix with AI" (plist-get a :title)))
                          (append actions nil))))
    (if fix
        (llm-lsp--apply-action (llm-lsp--server) fix)
      (user-error "llm-lsp: no AI fix here (no diagnostics on this line?)"))))

(defalias 'llm-lsp-fix-at-point #'llm-lsp-fix)

(defun llm-lsp--execute (server command arguments)
  (let ((result (jsonrpc-request server :workspace/executeCommand
                                 (list :command command :arguments (or arguments []))
                                 :timeout 120)))
    (when (and (stringp result) (not (string-empty-p result)))
      (with-current-buffer (get-buffer-create "*llm-lsp*")
        (let ((inhibit-read-only t))
          (erase-buffer)
          (insert result)
          (goto-char (point-min))
          (special-mode)))
      (display-buffer "*llm-lsp*"))
    result))

(defun llm-lsp-command (name &optional instruction)
  "Run the server command llm-lsp.NAME on the region (or the current line)."
  (let* ((region (llm-lsp--region))
         (arg (list :uri (eglot--path-to-uri (buffer-file-name))
                    :range (llm-lsp--range (car region) (cdr region)))))
    (when instruction
      (setq arg (plist-put arg :instruction instruction)))
    (llm-lsp--execute (llm-lsp--server) (concat "llm-lsp." name) (vector arg))))

(defun llm-lsp-explain () "Explain the region." (interactive) (llm-lsp-command "explain"))
(defun llm-lsp-document () "Document the region." (interactive) (llm-lsp-command "document"))
(defun llm-lsp-tests () "Generate tests for the region." (interactive) (llm-lsp-command "tests"))
(defun llm-lsp-simplify () "Simplify the region." (interactive) (llm-lsp-command "simplify"))
(defun llm-lsp-fix-region () "Fix the region (command llm-lsp.fix)." (interactive) (llm-lsp-command "fix"))
(defun llm-lsp-refactor (instruction)
  "Rewrite the region following INSTRUCTION."
  (interactive "sRefactor instruction: ")
  (llm-lsp-command "refactor" instruction))

(defun llm-lsp-stats ()
  "Show your acceptance figures (llm-lsp.showStats: counts kept on this machine, sent nowhere)."
  (interactive)
  (llm-lsp--execute (llm-lsp--server) "llm-lsp.showStats" (vector (list :format "text"))))

(defun llm-lsp-inline-completion ()
  "The raw textDocument/inlineCompletion answer at point (a list of items), for scripting."
  (let ((result (jsonrpc-request (llm-lsp--server) :textDocument/inlineCompletion
                                 (append (eglot--TextDocumentPositionParams)
                                         (list :context (list :triggerKind 1))))))
    (append (if (and (listp result) (plist-member result :items)) (plist-get result :items) result) nil)))

(provide 'llm-lsp-eglot)
;;; llm-lsp-eglot.el ends here
