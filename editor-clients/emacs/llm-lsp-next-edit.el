;;; llm-lsp-next-edit.el --- next-edit suggestions from llm-lsp through Eglot -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: tools, languages, convenience

;;; Commentary:

;; After a pause that follows an edit, asks llm-lsp for the edit that follows (the request Copilot's
;; language server answers, textDocument/copilotInlineEdit) and shows it as an overlay where it
;; would apply: the text it deletes in `llm-lsp-next-edit-deleted', the text it inserts after it in
;; `llm-lsp-next-edit-inserted'.  TAB jumps to it, a second TAB applies it (at once when point is
;; already on its lines) and runs its accept command; `llm-lsp-next-edit-dismiss' (C-c C-k) hides
;; it; `llm-lsp-next-edit-request' (C-c C-n) asks now.  An edit is shown only for the buffer text it
;; was computed for: any change hides it.
;;
;;   (require 'llm-lsp-eglot)
;;   (require 'llm-lsp-next-edit)
;;   (setq llm-lsp-settings '(:model "gpt-4o-mini" :nextEdit (:enable t)))
;;   (llm-lsp-eglot-setup)
;;   (add-hook 'eglot-managed-mode-hook #'llm-lsp-next-edit-mode)
;;
;; The server answers only with llmLsp.nextEdit.enable set (it is off by default).

;;; Code:

(require 'eglot)
(require 'jsonrpc)
(require 'cl-lib)

(defgroup llm-lsp-next-edit nil
  "Next-edit suggestions from llm-lsp."
  :group 'tools
  :prefix "llm-lsp-next-edit-")

(defcustom llm-lsp-next-edit-delay 0.5
  "Seconds without a change after an edit before the next edit is asked for."
  :type 'number)

(defface llm-lsp-next-edit-deleted
  '((t :inherit diff-removed :strike-through t))
  "Text a shown next edit deletes.")

(defface llm-lsp-next-edit-inserted
  '((t :inherit diff-added))
  "Text a shown next edit inserts.")

(defvar-local llm-lsp-next-edit--shown nil
  "The shown next edit: a plist (:item :overlay :tick :text :beg :end).")
(defvar-local llm-lsp-next-edit--timer nil)

(defun llm-lsp-next-edit--server ()
  (eglot-current-server))

(defun llm-lsp-next-edit--supported (server)
  (let ((experimental (plist-get (eglot--capabilities server) :experimental)))
    (plist-get (plist-get experimental :llmLsp) :nextEdit)))

(defun llm-lsp-next-edit-dismiss ()
  "Hide the shown next edit."
  (interactive)
  (when llm-lsp-next-edit--shown
    (delete-overlay (plist-get llm-lsp-next-edit--shown :overlay))
    (setq llm-lsp-next-edit--shown nil)
    t))

(defun llm-lsp-next-edit-visible ()
  "Whether a next edit is shown in this buffer."
  (and llm-lsp-next-edit--shown t))

(defun llm-lsp-next-edit--show (server item)
  "Show ITEM (an edit of a copilotInlineEdit answer) as an overlay.
Tell SERVER it was shown."
  (llm-lsp-next-edit-dismiss)
  (let* ((region (eglot--range-region (plist-get item :range)))
         (beg (car region)) (end (cdr region))
         (text (plist-get item :text))
         (overlay (make-overlay beg end nil t nil)))
    (overlay-put overlay 'llm-lsp-next-edit t)
    (overlay-put overlay 'face 'llm-lsp-next-edit-deleted)
    (unless (string-empty-p text)
      (overlay-put overlay 'after-string (propertize text 'face 'llm-lsp-next-edit-inserted)))
    (setq llm-lsp-next-edit--shown
          (list :item item :overlay overlay :tick (buffer-chars-modified-tick) :text text :beg beg :end end))
    (jsonrpc-notify server :textDocument/didShowInlineEdit (list :item item))))

(defun llm-lsp-next-edit-request (&optional explicit)
  "Ask for the next edit at point (interactively: EXPLICIT, the user asked)."
  (interactive (list t))
  (let ((server (llm-lsp-next-edit--server))
        (buffer (current-buffer)))
    (when (and server (llm-lsp-next-edit--supported server))
      (eglot--signal-textDocument/didChange) ; the server must know the text first
      (let ((tick (buffer-chars-modified-tick))
            (params (append (list :textDocument (eglot--VersionedTextDocumentIdentifier)
                                  :position (eglot--pos-to-lsp-position))
                            (when explicit (list :context (list :triggerKind 1))))))
        (jsonrpc-async-request
         server (if explicit :llmLsp/nextEdit :textDocument/copilotInlineEdit) params
         :success-fn
         (lambda (result)
           (when (buffer-live-p buffer)
             (with-current-buffer buffer
               ;; An answer for text the buffer left behind is never shown.
               (when (= tick (buffer-chars-modified-tick))
                 (let ((item (and (plist-get result :edits) (aref (plist-get result :edits) 0))))
                   (cond (item (llm-lsp-next-edit--show server item))
                         (explicit (message "llm-lsp: no next edit: %s"
                                            (or (plist-get result :reason) "none")))))))))
         :error-fn #'ignore
         :timeout-fn #'ignore)))))

(defun llm-lsp-next-edit-accept ()
  "Jump to the shown next edit; when point is on its lines, apply it.
Applying runs the edit's accept command."
  (interactive)
  (let ((shown llm-lsp-next-edit--shown))
    (when shown
      (let* ((beg (overlay-start (plist-get shown :overlay)))
             (end (overlay-end (plist-get shown :overlay)))
             (item (plist-get shown :item)))
        (if (not (<= (save-excursion (goto-char beg) (line-beginning-position))
                     (point)
                     (save-excursion (goto-char end) (line-end-position))))
            (goto-char beg)
          (llm-lsp-next-edit-dismiss)
          (when (= (plist-get shown :tick) (buffer-chars-modified-tick))
            (eglot--apply-text-edits
             (vector (list :range (plist-get item :range) :newText (plist-get item :text)))
             (plist-get (plist-get item :textDocument) :version))
            (goto-char (+ beg (length (plist-get item :text))))
            (let ((command (plist-get item :command))
                  (server (llm-lsp-next-edit--server)))
              (when (and command server)
                (eglot--signal-textDocument/didChange) ; the edit reaches the server before its accept
                (jsonrpc-request server :workspace/executeCommand
                                 (list :command (plist-get command :command)
                                       :arguments (or (plist-get command :arguments) []))))))))
      t)))

(defun llm-lsp-next-edit--after-change (&rest _)
  "Any change hides the shown edit and asks again after `llm-lsp-next-edit-delay'."
  (llm-lsp-next-edit-dismiss)
  (when (timerp llm-lsp-next-edit--timer)
    (cancel-timer llm-lsp-next-edit--timer))
  (let ((buffer (current-buffer)))
    (setq llm-lsp-next-edit--timer
          (run-at-time llm-lsp-next-edit-delay nil
                       (lambda ()
                         (when (and (buffer-live-p buffer) (eq buffer (window-buffer (selected-window))))
                           (with-current-buffer buffer
                             (setq llm-lsp-next-edit--timer nil)
                             (llm-lsp-next-edit-request nil))))))))

(defun llm-lsp-next-edit--tab-filter (_command)
  "TAB runs `llm-lsp-next-edit-accept' only while a next edit is shown."
  (when (llm-lsp-next-edit-visible) #'llm-lsp-next-edit-accept))

(defvar llm-lsp-next-edit-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") '(menu-item "" llm-lsp-next-edit-accept :filter llm-lsp-next-edit--tab-filter))
    (define-key map (kbd "C-c C-n") #'llm-lsp-next-edit-request)
    (define-key map (kbd "C-c C-k") #'llm-lsp-next-edit-dismiss)
    map)
  "Keys of `llm-lsp-next-edit-mode': TAB only while a next edit is shown.")

;;;###autoload
(define-minor-mode llm-lsp-next-edit-mode
  "Show llm-lsp's next-edit suggestions in this buffer.
TAB jumps to a shown one, then applies it."
  :lighter " NextEdit"
  :keymap llm-lsp-next-edit-mode-map
  (if llm-lsp-next-edit-mode
      (add-hook 'after-change-functions #'llm-lsp-next-edit--after-change nil t)
    (remove-hook 'after-change-functions #'llm-lsp-next-edit--after-change t)
    (llm-lsp-next-edit-dismiss)))

(provide 'llm-lsp-next-edit)
;;; llm-lsp-next-edit.el ends here
